#!/usr/bin/env bash
# Start the four services as separate processes, load the demo data and wait for Ctrl-C.
# Every process started here is stopped on exit, on failure and on Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=".run/logs"
mkdir -p "$logs"
declare -A ports=([registry]=8001 [points]=8002 [stations]=8003 [notify]=8004 [cases]=8005)
pids=()

stop_all() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null
  done
  echo "run: services stopped" >&2
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for name in registry points stations notify cases; do
  DRIVERHOME_HTTP_PORT="${ports[$name]}" uv run --no-sync python -m "$name" \
    >"$logs/$name.log" 2>&1 &
  pids+=($!)
done

for name in registry points stations notify cases; do
  url="http://127.0.0.1:${ports[$name]}/readyz"
  for i in $(seq 1 120); do
    if curl -fsS "$url" >/dev/null 2>&1; then break; fi
    if [ "$i" = 120 ]; then echo "run: $name did not become ready; see $logs/$name.log" >&2; exit 1; fi
    sleep 0.5
  done
done

# Demo data: a synthetic district (generated people, never real ones). Reruns change nothing.
echo "run: loading the demo district (2,000 drivers, fleets, grids, organisations)..." >&2
uv run --no-sync python scripts/demo_registry.py --count "${DEMO_DRIVERS:-2000}" \
  || echo "run: registry demo data not loaded (see above)" >&2
if [ -f scripts/demo_stations.py ]; then
  uv run --no-sync python scripts/demo_stations.py || echo "run: stations demo data not loaded" >&2
fi

cat <<MSG

driverhome is running (Ctrl-C stops everything):
  registry  http://127.0.0.1:8001/docs
  points    http://127.0.0.1:8002/docs
  stations  http://127.0.0.1:8003/docs
  notify    http://127.0.0.1:8004/docs
  cases     http://127.0.0.1:8005/docs
  metrics   http://127.0.0.1:800{1..5}/metrics
  logs      $logs/<service>.log (JSON lines)
  kafka     127.0.0.1:9092   store: mongodb://127.0.0.1:27017
  a token:  make token ROLE=operator

MSG
interrupted=0
trap 'interrupted=1' INT TERM
wait -n "${pids[@]}"
if [ "$interrupted" = 1 ]; then exit 130; fi
echo "run: a service exited; stopping the others (see $logs)" >&2
exit 1
