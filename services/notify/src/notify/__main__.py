from __future__ import annotations

from common.webapp import serve
from notify.app import create_app
from notify.settings import NotifySettings


def main() -> None:
    serve(create_app, NotifySettings)


if __name__ == "__main__":
    main()
