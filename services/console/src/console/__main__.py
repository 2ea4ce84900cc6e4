from __future__ import annotations

import sys

from pydantic import ValidationError

from common.webapp import serve
from console.app import create_app
from console.settings import ConsoleSettings


def check() -> int:
    """``python -m console --check``: the container's init step. The services' own check
    (common.settings) would ask for PII and token keys the console never holds."""
    try:
        ConsoleSettings()
    except ValidationError as exc:
        for error in exc.errors():
            print(f"settings: {error['msg']}")
        return 1
    print("settings: ConsoleSettings is complete")
    return 0


def main() -> None:
    if "--check" in sys.argv[1:]:
        raise SystemExit(check())
    serve(create_app, ConsoleSettings)


if __name__ == "__main__":
    main()
