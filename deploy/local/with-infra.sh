#!/usr/bin/env bash
# Run a command with the local Kafka and store up. If they were already running they are left
# running; otherwise they are started here and stopped on exit, failure or Ctrl-C.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
started=0
if [ -n "${DRIVERHOME_TEST_KAFKA:-}" ] && [ -n "${DRIVERHOME_TEST_MONGO_URL:-}" ]; then
  exec "$@"  # endpoints given from outside: nothing to manage
fi
if ! bash "$here/infra.sh" status >/dev/null 2>&1; then
  bash "$here/infra.sh" up || exit $?
  started=1
elif [ "${WITH_INFRA_ACCESS:-0}" = 1 ] && [ -f "${DRIVERHOME_INFRA_DIR:-.infra}/kafka/credentials.json" ]; then
  # Already running (started before the last pull): the access table may have gained users or
  # grants since (a consumer's new topic, a new partner), which `up` applies. Without them a
  # service fails its start-up with TOPIC_AUTHORIZATION_FAILED. Additive and idempotent.
  bash "$here/infra.sh" access >&2 || echo "with-infra: could not apply deploy/access.yaml" >&2
fi
cleanup() {
  if [ "$started" = 1 ]; then bash "$here/infra.sh" down >&2 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$@" &
child=$!
# Forward Ctrl-C/TERM to the command's whole process group, then wait for it.
trap 'kill -INT $child 2>/dev/null; wait $child; exit 130' INT
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 143' TERM
wait $child
