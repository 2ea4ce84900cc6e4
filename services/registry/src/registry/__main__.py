from __future__ import annotations

from common.webapp import serve
from registry.app import create_app
from registry.settings import RegistrySettings


def main() -> None:
    serve(create_app, RegistrySettings)


if __name__ == "__main__":
    main()
