from __future__ import annotations

from common.webapp import serve
from stations.app import create_app
from stations.settings import StationsSettings


def main() -> None:
    serve(create_app, StationsSettings)


if __name__ == "__main__":
    main()
