"""Container health probe: ``python healthcheck.py [/healthz|/readyz]``.

Exit 0 when the service answers the path with 2xx, 1 otherwise. Standard library only, so it
needs nothing the image does not already have (no curl in python:*-slim). The port comes from
``DRIVERHOME_HTTP_PORT``, else the service's well-known default for ``SERVICE``.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from http import HTTPStatus

DEFAULT_PORTS = {
    "registry": 8001,
    "points": 8002,
    "stations": 8003,
    "notify": 8004,
    "cases": 8005,
    "partners": 8006,
}


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    port = os.environ.get("DRIVERHOME_HTTP_PORT") or DEFAULT_PORTS.get(
        os.environ.get("SERVICE", ""), 8000
    )
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2.5) as response:
            status = response.status
    except urllib.error.HTTPError as exc:  # 503 from /readyz while Kafka or Mongo is down
        print(f"{url}: HTTP {exc.code}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    return 0 if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
