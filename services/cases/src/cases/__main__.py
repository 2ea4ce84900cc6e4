from __future__ import annotations

from cases.app import create_app
from cases.settings import CasesSettings
from common.webapp import serve


def main() -> None:
    serve(create_app, CasesSettings)


if __name__ == "__main__":
    main()
