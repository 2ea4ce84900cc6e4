from __future__ import annotations

from common.webapp import serve
from partners.app import create_app
from partners.settings import PartnersSettings


def main() -> None:
    serve(create_app, PartnersSettings)


if __name__ == "__main__":
    main()
