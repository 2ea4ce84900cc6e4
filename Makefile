# driverhome — every command installs what it needs first and stops what it started.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.8
export PATH := $(HOME)/.local/bin:$(PATH)
export UV_PYTHON_DOWNLOADS := never
INFRA := bash deploy/local/infra.sh
WITH_INFRA := bash deploy/local/with-infra.sh
PY := uv run --no-sync python
ROLE ?= operator
# make's own AS is the assembler ("as"): only an AS the caller gave names operator roles.
ifeq ($(origin AS),default)
AS :=
endif
# An unset DRIVERHOME_ENVIRONMENT means production (strict keys, no development issuer): each
# development command says which environment it is, unless the caller already did.
DEV_ENV := DRIVERHOME_ENVIRONMENT=$${DRIVERHOME_ENVIRONMENT:-development}
TEST_ENV := DRIVERHOME_ENVIRONMENT=$${DRIVERHOME_ENVIRONMENT:-test}

.PHONY: help bootstrap sync lint fmt typecheck unit test test-slow chaos infra-up infra-down infra-status run token kafka-config kafka-access bench schemas docs deploy-check

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

bootstrap: ## install uv and the locked Python dependencies (and Java/Maven via apt if missing)
	@bash scripts/bootstrap.sh $(UV_VERSION)

sync: bootstrap

lint: bootstrap ## ruff and mypy, configured once at the root
	uv run --no-sync ruff check .
	uv run --no-sync ruff format --check .
	uv run --no-sync mypy

typecheck: bootstrap ## mypy alone (lint runs it too)
	uv run --no-sync mypy

unit: bootstrap ## the fast tests: no Kafka, no store, seconds (use cases against in-memory fakes)
	$(TEST_ENV) uv run --no-sync pytest tests/unit -q -p no:cacheprovider $(PYTEST_ARGS)

fmt: bootstrap
	uv run --no-sync ruff format .
	uv run --no-sync ruff check --fix .

# The suite mostly waits (consumer groups, redeliveries, polling), so it runs on TEST_WORKERS
# processes sharing the broker and store; each test still has its own topics and databases.
# A file's tests stay on one worker (module fixtures: the browser, the fuzzer's services).
# TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 3
test: lint deploy-check ## the whole suite against a real Kafka broker and store (started if not running)
	$(TEST_ENV) $(WITH_INFRA) uv run --no-sync pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Renders deploy/k8s overlays and validates every object offline (kustomize and kubeconform
# are built from the Go module proxy into ~/.cache/driverhome on first use).
deploy-check: bootstrap ## render the Kubernetes overlays and validate them offline (schemas, topics, users, no dev keys)
	bash deploy/k8s/check.sh

test-slow: bootstrap ## the long soak/fault suites (marker: slow)
	$(TEST_ENV) $(WITH_INFRA) uv run --no-sync pytest -m slow $(PYTEST_ARGS)

# The standing fault suite freezes its store and restarts its broker, so it runs its own Kafka
# and store (ports and directory below, never the shared 9092/27017); the trap is a backstop for
# a pytest killed before its own teardown. Sizes: CHAOS_EVENTS, CHAOS_RATE, CHAOS_FREEZE_SECONDS.
CHAOS_INFRA := KAFKA_PORT=$${CHAOS_KAFKA_PORT:-19092} KAFKA_CONTROLLER_PORT=$${CHAOS_KAFKA_CONTROLLER_PORT:-19093} MONGO_PORT=$${CHAOS_MONGO_PORT:-27018} DRIVERHOME_INFRA_DIR=$${CHAOS_INFRA_DIR:-.infra/chaos} $(INFRA)
chaos: bootstrap ## the standing fault suite on private Kafka and store (writes docs/reliability.md)
	@trap '$(CHAOS_INFRA) down >/dev/null 2>&1 || true' EXIT; \
	CHAOS_REPORT=$${CHAOS_REPORT-docs/reliability.md} DRIVERHOME_KAFKA_AUTH=$${DRIVERHOME_KAFKA_AUTH:-off} $(TEST_ENV) uv run --no-sync pytest -m chaos tests/chaos -s -p no:cacheprovider $(PYTEST_ARGS)

infra-up: bootstrap ## start Kafka and the Mongo wire-protocol store on 127.0.0.1
	$(INFRA) up

infra-down: ## stop them
	$(INFRA) down

infra-status:
	$(INFRA) status

run: bootstrap ## infra, every service and a demo data set; Ctrl-C stops everything
	$(DEV_ENV) WITH_INFRA_ACCESS=1 $(WITH_INFRA) bash scripts/run-services.sh

# The development credentials of the secured local broker (deploy/access.yaml principals).
KAFKA_CREDENTIALS := $${DRIVERHOME_INFRA_DIR:-.infra}/kafka/credentials.json
PRINCIPAL ?= admin
kafka-config: bootstrap ## a librdkafka properties file for one Kafka principal: make kafka-config PRINCIPAL=partner:port-booking (path on the last line)
	@test -f $(KAFKA_CREDENTIALS) || { echo "no $(KAFKA_CREDENTIALS): run make infra-up first" >&2; exit 1; }
	@$(PY) -m common.access kafka-config $(KAFKA_CREDENTIALS) $(PRINCIPAL)

kafka-access: bootstrap ## give partners registered through the partners API their topic, Kafka user and grants (local broker)
	$(INFRA) access

token: bootstrap ## a development bearer token: make token ROLE=operator [AS=points_admin,auditor] (last line)
	@$(DEV_ENV) $(PY) -m common.auth --role $(ROLE) $(if $(DRIVER_ID),--driver-id $(DRIVER_ID)) $(if $(STATION_ID),--station-id $(STATION_ID)) $(if $(PARTNER_ID),--partner-id $(PARTNER_ID)) $(if $(PERSON_ID),--person-id $(PERSON_ID)) $(if $(SCOPE),--scope "$(SCOPE)") $(if $(AS),--as "$(AS)")

# The benchmarks run on their own Kafka and store (never the shared 9092/27017), without SASL like
# make chaos: the raw baselines and the system meet the same broker, so the ratios hold; the trap
# stops what the run started, also when it fails.
BENCH_KAFKA := 127.0.0.1:$${BENCH_KAFKA_PORT:-19192}
BENCH_MONGO := mongodb://127.0.0.1:$${BENCH_MONGO_PORT:-27028}
# The local store keeps what the district sizes load (100,000 drivers, inboxes and cases) in
# its heap: twice the development store's.
BENCH_INFRA := KAFKA_PORT=$${BENCH_KAFKA_PORT:-19192} KAFKA_CONTROLLER_PORT=$${BENCH_KAFKA_CONTROLLER_PORT:-19193} MONGO_PORT=$${BENCH_MONGO_PORT:-27028} DRIVERHOME_INFRA_DIR=$${BENCH_INFRA_DIR:-.infra/bench} MONGO_HEAP_OPTS=$${BENCH_MONGO_HEAP_OPTS:--Xmx4g} DRIVERHOME_KAFKA_AUTH=off $(INFRA)
bench: bootstrap ## benchmarks on private infra: raw baselines and the system as ratios (writes docs/performance.md)
	@trap '$(BENCH_INFRA) down >/dev/null 2>&1 || true' EXIT; \
	$(BENCH_INFRA) purge >/dev/null 2>&1; \
	$(BENCH_INFRA) up && \
	$(TEST_ENV) DRIVERHOME_TEST_KAFKA=$(BENCH_KAFKA) DRIVERHOME_TEST_MONGO_URL=$(BENCH_MONGO) $(PY) -m bench $(BENCH_ARGS)

schemas: bootstrap ## regenerate docs/schemas (the event snapshot), the AsyncAPI/OpenAPI documents and the docs made from the code
	$(PY) -m common.events.export docs/schemas
	$(DEV_ENV) $(PY) scripts/asyncapi.py
	$(DEV_ENV) $(PY) scripts/events_doc.py
	$(DEV_ENV) $(PY) scripts/routes_doc.py
	$(DEV_ENV) $(PY) scripts/settings_doc.py

docs: schemas ## regenerate every generated document (schemas, AsyncAPI, OpenAPI, events.md, routes.md, settings.md)
