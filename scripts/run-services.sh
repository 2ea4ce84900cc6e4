#!/usr/bin/env bash
# Start the services as separate processes, load the demo data and supervise them until Ctrl-C:
# a service that dies is restarted with backoff (RUN_BACKOFF_START seconds, doubling up to
# RUN_BACKOFF_MAX, back to the start once it has run RUN_STABLE_SECONDS), so one crash never
# stops the stack and anyone can watch a service recover. Every process started here, restarted
# ones included, is stopped on exit, on failure and on Ctrl-C.
#
# For tests: RUN_SERVICES (names), RUN_PORT_BASE (service i listens on base+i),
# RUN_SERVICE_CMD (a command the name is appended to; default: the venv's `python -m`),
# RUN_DEMO=0 (no demo data), RUN_LOGS (log folder), RUN_READY_SECONDS (per service, 180). The operator console, listed last, listens
# on the base port itself and calls the others at their ports; it needs no Kafka principal.
set -uo pipefail
cd "$(dirname "$0")/.."
# Development: the development issuer's keys and the built-in development PII keys. Unset, the
# services would take it for production and refuse them.
export DRIVERHOME_ENVIRONMENT="${DRIVERHOME_ENVIRONMENT:-development}"
logs="${RUN_LOGS:-.run/logs}"
mkdir -p "$logs"
read -r -a names <<<"${RUN_SERVICES:-registry points stations notify cases partners console}"
port_base="${RUN_PORT_BASE:-8000}"
backoff_start="${RUN_BACKOFF_START:-1}"
backoff_max="${RUN_BACKOFF_MAX:-30}"
stable_seconds="${RUN_STABLE_SECONDS:-60}"
if [ -n "${RUN_SERVICE_CMD:-}" ]; then
  read -r -a service_cmd <<<"$RUN_SERVICE_CMD"
else
  # The venv's python itself, not `uv run`: the pid we watch and signal must be the service's,
  # or killing the wrapper would leave an orphan holding the port.
  service_cmd=("$(uv run --no-sync python -c 'import sys; print(sys.executable)')" -m)
fi

# A secured local broker (issue 12): each service authenticates as its own principal of
# deploy/access.yaml, with the development credentials infra.sh generated for this checkout.
credentials="${DRIVERHOME_INFRA_DIR:-.infra}/kafka/credentials.json"
declare -A port pid_of started_at delay restart_at restarts kafka_env
for i in "${!names[@]}"; do
  name=${names[$i]}
  port[$name]=$((port_base + i + 1))
  delay[$name]=$backoff_start
  restarts[$name]=0
  if [ "$name" = console ]; then
    port[$name]=$port_base
    continue
  fi
  if [ -f "$credentials" ] && [ -z "${DRIVERHOME_KAFKA_USERNAME:-}" ]; then
    kafka_env[$name]=$(uv run --no-sync python -m common.access env "$credentials" "service:$name" 2>/dev/null | tr '\n' ' ') \
      || echo "run: $name has no Kafka principal in deploy/access.yaml; it starts without credentials" >&2
  fi
done

# The console calls each service where this script started it.
console_env() {
  local other
  for other in "${names[@]}"; do
    [ "$other" = console ] || printf 'DRIVERHOME_%s_URL=http://127.0.0.1:%s ' "${other^^}" "${port[$other]}"
  done
  printf 'DRIVERHOME_ENVIRONMENT=%s' "${DRIVERHOME_ENVIRONMENT:-development}"
}

start_service() {
  local name=$1 extra=()
  read -r -a extra <<<"${kafka_env[$name]:-}"
  if [ "$name" = console ]; then read -r -a extra <<<"$(console_env)"; fi
  env "${extra[@]}" DRIVERHOME_HTTP_PORT="${port[$name]}" "${service_cmd[@]}" "$name" >>"$logs/$name.log" 2>&1 &
  pid_of[$name]=$!
  started_at[$name]=$SECONDS
  restart_at[$name]=""
}

# One pass over the services: reap the dead, schedule their restart, start those due.
supervise() {
  local name pid status ran
  for name in "${names[@]}"; do
    pid=${pid_of[$name]}
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      status=$?
      ran=$((SECONDS - started_at[$name]))
      if [ "$ran" -ge "$stable_seconds" ]; then delay[$name]=$backoff_start; fi
      restarts[$name]=$((restarts[$name] + 1))
      echo "run: $name exited (status $status) after ${ran}s; restarting in ${delay[$name]}s" \
        "(restart ${restarts[$name]}, see $logs/$name.log)" >&2
      pid_of[$name]=""
      restart_at[$name]=$((SECONDS + delay[$name]))
      delay[$name]=$((delay[$name] * 2 > backoff_max ? backoff_max : delay[$name] * 2))
    elif [ -z "$pid" ] && [ "$SECONDS" -ge "${restart_at[$name]}" ]; then
      start_service "$name"
      echo "run: $name restarted (pid ${pid_of[$name]})" >&2
    fi
  done
}

stop_all() {
  # A second Ctrl-C while stopping must not leave the rest running.
  trap - EXIT
  trap '' INT TERM
  local pids=() pid
  for name in "${names[@]}"; do [ -n "${pid_of[$name]:-}" ] && pids+=("${pid_of[$name]}"); done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  echo "run: services stopped" >&2
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for name in "${names[@]}"; do
  : >"$logs/$name.log"
  start_service "$name"
done

# Each service gets RUN_READY_SECONDS to answer /readyz (a loaded 2-core machine imports and
# joins its consumer groups in over a minute).
ready_checks=$((${RUN_READY_SECONDS:-180} * 2))
for name in "${names[@]}"; do
  url="http://127.0.0.1:${port[$name]}/readyz"
  for i in $(seq 1 "$ready_checks"); do
    if curl -fsS "$url" >/dev/null 2>&1; then break; fi
    if [ "$i" = "$ready_checks" ]; then echo "run: $name did not become ready; see $logs/$name.log" >&2; exit 1; fi
    supervise
    sleep 0.5
  done
done

if [ "${RUN_DEMO:-1}" != 0 ]; then
  # Demo data: a synthetic district (generated people, never real ones). Reruns change nothing.
  echo "run: loading the demo district (2,000 drivers, fleets, grids, organisations)..." >&2
  uv run --no-sync python scripts/demo_registry.py --count "${DEMO_DRIVERS:-2000}" \
    || echo "run: registry demo data not loaded (see above)" >&2
  if [ -f scripts/demo_stations.py ]; then
    uv run --no-sync python scripts/demo_stations.py || echo "run: stations demo data not loaded" >&2
  fi
  if [ -f scripts/demo_mutual_help.py ]; then
    uv run --no-sync python scripts/demo_mutual_help.py --cases "http://127.0.0.1:${port[cases]:-8005}" \
      --registry "http://127.0.0.1:${port[registry]:-8001}" \
      || echo "run: mutual-help demo data not loaded" >&2
  fi
  if [ -f scripts/demo_aid.py ]; then
    uv run --no-sync python scripts/demo_aid.py --cases "http://127.0.0.1:${port[cases]:-8005}" \
      --registry "http://127.0.0.1:${port[registry]:-8001}" \
      || echo "run: aid demo data not loaded" >&2
  fi
  if [ -f scripts/demo_honours.py ]; then
    uv run --no-sync python scripts/demo_honours.py --cases "http://127.0.0.1:${port[cases]:-8005}" \
      --registry "http://127.0.0.1:${port[registry]:-8001}" \
      || echo "run: honours demo data not loaded" >&2
  fi
  if [ -f scripts/demo_party.py ]; then
    uv run --no-sync python scripts/demo_party.py --cases "http://127.0.0.1:${port[cases]:-8005}" \
      --registry "http://127.0.0.1:${port[registry]:-8001}" \
      --partners "http://127.0.0.1:${port[partners]:-8006}" \
      || echo "run: party-life demo data not loaded" >&2
  fi
  if [ -f scripts/demo_commitments.py ]; then
    uv run --no-sync python scripts/demo_commitments.py --cases "http://127.0.0.1:${port[cases]:-8005}" \
      --registry "http://127.0.0.1:${port[registry]:-8001}" \
      || echo "run: 三亮三比 demo data not loaded" >&2
  fi
  uv run --no-sync python scripts/demo_rest_vouchers.py \
    --registry "http://127.0.0.1:${port[registry]:-8001}" \
    --points "http://127.0.0.1:${port[points]:-8002}" \
    --partners "http://127.0.0.1:${port[partners]:-8006}" \
    || echo "run: voucher and rest-nudge demo data not loaded" >&2
fi

echo
echo "driverhome is running (Ctrl-C stops everything; a service that dies is restarted):"
for name in "${names[@]}"; do
  if [ "$name" = console ]; then
    printf '  %-9s http://127.0.0.1:%s/  (operator console: sign in with a development role)\n' "$name" "${port[$name]}"
  else
    printf '  %-9s http://127.0.0.1:%s/docs\n' "$name" "${port[$name]}"
  fi
done
cat <<MSG
  metrics   http://127.0.0.1:<port>/metrics
  logs      $logs/<service>.log (JSON lines)
  kafka     127.0.0.1:9092   store: mongodb://127.0.0.1:27017
  a token:  make token ROLE=operator
MSG
if [ -f "$credentials" ]; then
  cat <<MSG
  kafka credentials (SASL/SCRAM-SHA-512, development only): $credentials
            a client config as one principal: make kafka-config PRINCIPAL=partner:port-booking
MSG
fi
echo
while true; do
  supervise
  sleep 0.5
done
