from __future__ import annotations

from common.webapp import serve
from console.app import create_app
from console.settings import ConsoleSettings


def main() -> None:
    serve(create_app, ConsoleSettings)


if __name__ == "__main__":
    main()
