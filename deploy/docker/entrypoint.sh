#!/bin/sh
# Container entrypoint for every driverhome service image (see deploy/Dockerfile).
#
# With no arguments it runs the service the image was built for: `python -m "$SERVICE"`.
# With arguments it runs those instead (`docker run --rm IMAGE python -c '...'`).
# `exec` replaces the shell so the service is PID 1 and receives SIGTERM on `docker stop`.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

case "${SERVICE:-}" in
    "")
        echo "entrypoint: SERVICE is not set (registry, points, stations, notify, cases or partners)" >&2
        exit 64
        ;;
    *[!a-z0-9_]*)
        echo "entrypoint: SERVICE='${SERVICE}' is not a module name" >&2
        exit 64
        ;;
esac

# Inside a container the service must listen on every interface, not loopback.
: "${DRIVERHOME_HTTP_HOST:=0.0.0.0}"
export DRIVERHOME_HTTP_HOST

exec python -m "${SERVICE}"
