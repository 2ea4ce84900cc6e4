from __future__ import annotations

from common.webapp import serve
from points.app import create_app
from points.settings import PointsSettings


def main() -> None:
    serve(create_app, PointsSettings)


if __name__ == "__main__":
    main()
