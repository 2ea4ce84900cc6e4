from __future__ import annotations

import uvicorn

from common.logging import configure_logging
from partners.app import create_app
from partners.settings import PartnersSettings


def main() -> None:
    settings = PartnersSettings()
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
