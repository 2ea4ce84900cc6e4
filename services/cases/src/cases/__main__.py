from __future__ import annotations

import uvicorn

from cases.app import create_app
from cases.settings import CasesSettings
from common.logging import configure_logging


def main() -> None:
    settings = CasesSettings()
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
