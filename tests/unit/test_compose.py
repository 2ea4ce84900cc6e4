"""Static checks of the container and Kubernetes files: no Docker engine or cluster needed.

They parse docker-compose.yml, deploy/Dockerfile, .dockerignore and deploy/k8s/ (the base and the
production overlay's secrets) and check
what a broken deployment would get wrong first: missing services, topics or settings, ports
published beyond loopback, healthchecks that test nothing, start-up order, root containers.
"""

from __future__ import annotations

import base64
import fnmatch
import re
import shlex
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
K8S_BASE = K8S_DIR / "base"
# The base and the production overlay's own objects (its other files are patches of the base).
K8S_FILES = (K8S_BASE, K8S_DIR / "overlays" / "production" / "secrets.yaml")

APP_PORTS = {
    "registry": 8001,
    "points": 8002,
    "stations": 8003,
    "notify": 8004,
    "cases": 8005,
    "partners": 8006,
}
APP_SERVICES = tuple(APP_PORTS)
# The operator console: an app without Kafka or a database of its own (issue 18).
CONSOLE, CONSOLE_PORT = "console", 8000
INFRA_SERVICES = ("kafka", "kafka-init", "mongo")
PARTNERS = (
    "port-booking",
    "station-kiosk",
    "volunteer-team",
    "traffic-safety",
    "training-centre",
    "party-platform",
)
EVENT_TOPICS = (
    "registry.events",
    "stations.events",
    "points.events",
    "notify.events",
    "cases.events",
    "partners.events",
    *(f"partner.{partner}.events" for partner in PARTNERS),
)
ALL_TOPICS = frozenset({*EVENT_TOPICS, *(f"{topic}.dlq" for topic in EVENT_TOPICS)})
PARTITIONS = 12
REQUIRED_ENV = (
    "DRIVERHOME_SERVICE_NAME",
    "DRIVERHOME_ENVIRONMENT",
    "DRIVERHOME_HTTP_HOST",
    "DRIVERHOME_HTTP_PORT",
    "DRIVERHOME_KAFKA_BOOTSTRAP",
    "DRIVERHOME_MONGO_URL",
    "DRIVERHOME_MONGO_DB",
    "DRIVERHOME_TOPIC_PARTITIONS",
    "DRIVERHOME_JWT_JWKS_FILE",
    "DRIVERHOME_PII_KEY",
    "DRIVERHOME_PII_HMAC_KEY",
)
SECRET_ENV = ("DRIVERHOME_PII_KEY", "DRIVERHOME_PII_HMAC_KEY")
TOPIC_TOKEN = re.compile(r"^(?:[a-z0-9-]+\.)+events(?:\.dlq)?$")


# ----------------------------------------------------------------------------- helpers
@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{COMPOSE_FILE} is not a YAML mapping"
    return loaded


def service(name: str) -> dict[str, Any]:
    services = compose().get("services") or {}
    assert name in services, f"docker-compose.yml has no service {name!r} (has {sorted(services)})"
    definition = services[name]
    assert isinstance(definition, dict), f"service {name!r} is not a mapping"
    return definition


def environment(definition: dict[str, Any]) -> dict[str, str]:
    """A service's environment as strings, whether written as a mapping or as KEY=VALUE items."""
    raw = definition.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) for item in raw)
        return {key: value for key, value in pairs}
    return {key: env_value(value) for key, value in raw.items()}


def env_value(value: object) -> str:
    """As Compose passes it on: ``None`` -> empty, YAML booleans as lower-case words."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def as_text(command: Any) -> str:
    """A command, entrypoint or healthcheck test (string or list) as one string."""
    if command is None:
        return ""
    if isinstance(command, list):
        return " ".join(str(part) for part in command)
    return str(command)


def published_ports(definition: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host_ip, host_port, container_port) for short ("ip:host:container") and long syntax."""
    result: list[tuple[str, int, int]] = []
    for entry in definition.get("ports") or []:
        if isinstance(entry, dict):
            result.append(
                (
                    str(entry.get("host_ip", "")),
                    int(entry.get("published", 0)),
                    int(entry["target"]),
                )
            )
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 3:
            result.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            result.append(("", int(parts[0]), int(parts[1])))
        else:
            result.append(("", 0, int(parts[0])))
    return result


def build_args(definition: dict[str, Any]) -> dict[str, str]:
    args = (definition.get("build") or {}).get("args") or {}
    if isinstance(args, list):
        return dict(item.split("=", 1) for item in args)
    return {key: str(value) for key, value in args.items()}


@cache
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert instructions, f"{DOCKERFILE} has no instructions"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore drops ``path`` (or a folder above it); last matching pattern wins."""
    pure = PurePosixPath(path)
    candidates = [str(pure), *(str(parent) for parent in pure.parents if str(parent) != ".")]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(candidate, body) for candidate in candidates):
            ignored = not negate
    return ignored


@cache
def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    documents: list[tuple[str, dict[str, Any]]] = []
    paths = [p for root in K8S_FILES for p in ([root] if root.is_file() else root.rglob("*.yaml"))]
    for path in sorted(p for p in paths if p.name != "kustomization.yaml"):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                assert isinstance(document, dict), f"{path.name}: a document is not a mapping"
                documents.append((path.name, document))
    return documents


def k8s_of_kind(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, doc) for name, doc in k8s_documents() if doc.get("kind") == kind]


def deployments() -> dict[str, dict[str, Any]]:
    found = {doc["metadata"]["name"]: doc for _, doc in k8s_of_kind("Deployment")}
    assert found, f"no Deployment in {K8S_DIR}"
    return found


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    pod = deployment["spec"]["template"]["spec"]
    found = pod.get("containers") or []
    assert found, f"Deployment {deployment['metadata']['name']} has no containers"
    return list(found)


# ------------------------------------------------------------------------ docker-compose
def test_compose_defines_the_infrastructure_and_every_service() -> None:
    services = set(compose().get("services") or {})
    missing = {*INFRA_SERVICES, *APP_SERVICES} - services
    assert not missing, f"docker-compose.yml lacks services {sorted(missing)}"


def test_kafka_is_a_single_kraft_node_of_apache_kafka_4() -> None:
    kafka = service("kafka")
    image = str(kafka.get("image", ""))
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", image), f"kafka image is {image!r}"
    env = environment(kafka)
    roles = {role.strip() for role in env.get("KAFKA_PROCESS_ROLES", "").split(",")}
    assert roles == {"broker", "controller"}, f"KAFKA_PROCESS_ROLES gives {sorted(roles)}"
    node_id = env.get("KAFKA_NODE_ID")
    assert node_id, "KAFKA_NODE_ID is not set"
    voters = env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")
    assert voters.startswith(f"{node_id}@"), f"quorum voters {voters!r} omit node {node_id}"
    controller = env.get("KAFKA_CONTROLLER_LISTENER_NAMES", "")
    assert controller, "KAFKA_CONTROLLER_LISTENER_NAMES is not set"
    assert f"{controller}://" in env.get("KAFKA_LISTENERS", ""), "no CONTROLLER listener"
    advertised = env.get("KAFKA_ADVERTISED_LISTENERS", "")
    assert "PLAINTEXT://kafka:9092" in advertised, (
        f"containers reach Kafka at kafka:9092, but it advertises {advertised!r}"
    )


def test_kafka_fits_one_broker_and_never_auto_creates_topics() -> None:
    env = environment(service("kafka"))
    factors = {key: value for key, value in env.items() if key.endswith("REPLICATION_FACTOR")}
    for required in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    ):
        assert required in factors, f"{required} must be set (its default, 3, needs 3 brokers)"
    wrong = {key: value for key, value in factors.items() if value != "1"}
    assert not wrong, f"replication factors must be 1 on a single broker: {wrong}"
    assert env.get("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1") == "1"
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", "topic auto-creation is on"
    assert env.get("KAFKA_NUM_PARTITIONS") == str(PARTITIONS)
    assert env.get("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS") == "0"


def test_kafka_keeps_its_data_in_a_volume() -> None:
    kafka = service("kafka")
    log_dirs = environment(kafka).get("KAFKA_LOG_DIRS")
    assert log_dirs, "KAFKA_LOG_DIRS must be set: the image default is not a declared volume"
    targets = {
        str(volume).split(":")[1] for volume in kafka.get("volumes") or [] if ":" in str(volume)
    }
    assert log_dirs in targets, f"KAFKA_LOG_DIRS {log_dirs} is not on a volume ({targets})"


def test_kafka_init_creates_every_topic_and_its_dlq_twin_with_12_partitions() -> None:
    init = service("kafka-init")
    assert init.get("image") == service("kafka").get("image"), "kafka-init must use Kafka's image"
    script = as_text(init.get("entrypoint")) + "\n" + as_text(init.get("command"))
    assert "kafka-topics.sh" in script, "kafka-init does not run kafka-topics.sh"
    tokens = set(re.split(r"[\s\"'()\\]+", script))
    created = {token for token in tokens if TOPIC_TOKEN.match(token)}
    missing = ALL_TOPICS - created
    assert not missing, f"kafka-init does not create {sorted(missing)}"
    unexpected = created - ALL_TOPICS
    assert not unexpected, f"kafka-init creates unknown topics {sorted(unexpected)} (typo?)"
    for topic in EVENT_TOPICS:
        assert f"{topic}.dlq" in created, f"{topic} has no .dlq twin"
    partitions = re.findall(r"--partitions[ =](\S+)", script)
    assert partitions, "kafka-topics.sh is not given --partitions"
    assert set(partitions) == {str(PARTITIONS)}, f"partition counts given: {partitions}"
    assert re.search(r"--replication-factor[ =]1\b", script), "replication factor must be 1"
    assert "--if-not-exists" in script, "re-running kafka-init must not fail on existing topics"
    assert "--bootstrap-server kafka:9092" in script, "kafka-init must talk to kafka:9092"


def test_kafka_init_waits_for_a_healthy_broker_and_runs_once() -> None:
    init = service("kafka-init")
    depends = init.get("depends_on") or {}
    assert isinstance(depends, dict), "kafka-init depends_on needs conditions"
    assert (depends.get("kafka") or {}).get("condition") == "service_healthy"
    assert str(init.get("restart", "no")) == "no", "a one-shot container must not restart"


def test_the_expected_partners_are_the_partner_catalogue() -> None:
    from common.partners import DEFAULT_PARTNERS

    assert set(PARTNERS) == set(DEFAULT_PARTNERS), (
        "the partner topics created by kafka-init must follow common.partners.DEFAULT_PARTNERS"
    )


def test_mongo_runs_as_a_replica_set_that_initiates_itself() -> None:
    mongo = service("mongo")
    assert str(mongo.get("image", "")).startswith("mongo:8"), f"mongo image {mongo.get('image')}"
    command = shlex.split(as_text(mongo.get("command")))
    assert "--replSet" in command, f"mongo command {command} has no --replSet"
    replica_set = command[command.index("--replSet") + 1]
    assert "--bind_ip_all" in command, "mongo must listen beyond loopback inside the network"
    probe = as_text((mongo.get("healthcheck") or {}).get("test"))
    assert "rs.initiate" in probe, "the healthcheck must initiate the replica set"
    assert f"_id:'{replica_set}'" in probe.replace('"', "'").replace(" ", ""), (
        f"the healthcheck initiates a replica set other than {replica_set!r}"
    )
    for name in APP_SERVICES:
        url = environment(service(name)).get("DRIVERHOME_MONGO_URL", "")
        assert f"replicaSet={replica_set}" in url, f"{name} does not join {replica_set}: {url}"
    assert any(str(v).endswith(":/data/db") for v in mongo.get("volumes") or []), (
        "mongo data (/data/db) is not on a volume"
    )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_builds_from_the_shared_dockerfile_with_its_name(name: str) -> None:
    build = service(name).get("build")
    assert isinstance(build, dict), f"{name}: build must be a mapping with dockerfile and args"
    context = REPO_ROOT / str(build.get("context", "."))
    assert context.resolve() == REPO_ROOT, f"{name}: build context must be the repository root"
    assert (context / str(build.get("dockerfile"))).resolve() == DOCKERFILE, (
        f"{name}: builds from {build.get('dockerfile')}, not deploy/Dockerfile"
    )
    assert build_args(service(name)).get("SERVICE") == name, f"{name}: SERVICE build arg"


@pytest.mark.parametrize(("name", "port"), APP_PORTS.items())
def test_every_service_publishes_its_port_on_loopback_only(name: str, port: int) -> None:
    ports = published_ports(service(name))
    assert ("127.0.0.1", port, port) in ports, f"{name} must publish 127.0.0.1:{port}:{port}"
    assert environment(service(name)).get("DRIVERHOME_HTTP_PORT") == str(port), (
        f"{name} listens on another port than the one it publishes"
    )


def test_nothing_is_published_beyond_loopback() -> None:
    for name, definition in (compose().get("services") or {}).items():
        for host_ip, host_port, _ in published_ports(definition):
            assert host_ip == "127.0.0.1", f"{name} publishes port {host_port} on {host_ip or '*'}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_has_every_setting_it_needs(name: str) -> None:
    env = environment(service(name))
    missing = [key for key in REQUIRED_ENV if not env.get(key)]
    assert not missing, f"{name} lacks {missing}"
    assert env["DRIVERHOME_SERVICE_NAME"] == name
    assert env["DRIVERHOME_HTTP_HOST"] == "0.0.0.0", "inside a container bind every interface"
    assert env["DRIVERHOME_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["DRIVERHOME_MONGO_URL"].startswith("mongodb://mongo:27017/")
    assert env["DRIVERHOME_MONGO_DB"] == f"driverhome_{name}"
    assert env["DRIVERHOME_TOPIC_PARTITIONS"] == str(PARTITIONS)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secrets_come_from_the_environment_with_development_defaults(name: str) -> None:
    env = environment(service(name))
    for key in SECRET_ENV:
        match = re.fullmatch(rf"\$\{{{key}:-(.+)\}}", env[key])
        assert match, f"{name}: {key} must be ${{{key}:-<dev default>}}, got {env[key]!r}"
        assert len(base64.b64decode(match.group(1), validate=True)) == 32, (
            f"{name}: the {key} default must be base64 of 32 bytes"
        )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_reports_ready_only_when_its_dependencies_are(name: str) -> None:
    definition = service(name)
    probe = as_text((definition.get("healthcheck") or {}).get("test"))
    assert "/readyz" in probe, f"{name}: healthcheck {probe!r} does not hit /readyz"
    assert definition.get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_starts_after_topics_exist_and_mongo_is_healthy(name: str) -> None:
    depends = service(name).get("depends_on")
    assert isinstance(depends, dict), f"{name}: depends_on needs conditions, not a list"
    expected = {"kafka-init": "service_completed_successfully", "mongo": "service_healthy"}
    for dependency, condition in expected.items():
        actual = (depends.get(dependency) or {}).get("condition")
        assert actual == condition, f"{name} depends on {dependency} with {actual}, not {condition}"


def test_the_services_share_one_extension_field_definition() -> None:
    shared = compose().get("x-service")
    assert isinstance(shared, dict), "no x-service extension field (the common service parts)"
    for name in APP_SERVICES:
        for key in ("depends_on", "healthcheck", "restart"):
            assert service(name).get(key) == shared.get(key), f"{name}.{key} differs from x-service"


def test_every_healthcheck_has_a_test_an_interval_and_retries() -> None:
    checked = 0
    for name, definition in (compose().get("services") or {}).items():
        healthcheck = definition.get("healthcheck")
        if healthcheck is None:
            continue
        checked += 1
        missing = [key for key in ("test", "interval", "retries") if not healthcheck.get(key)]
        assert not missing, f"{name}: healthcheck lacks {missing}"
        assert not healthcheck.get("disable"), f"{name}: healthcheck is disabled"
    assert checked >= len(APP_SERVICES) + 2, "kafka, mongo and every service need a healthcheck"
    kafka_probe = as_text(service("kafka")["healthcheck"]["test"])
    assert re.search(r"kafka-(broker-api-versions|topics)\.sh", kafka_probe), kafka_probe


def test_compose_points_at_the_no_docker_path() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "make run" in text, "docker-compose.yml must mention `make run`"
    assert "deploy/local/infra.sh" in text, "docker-compose.yml must mention deploy/local/infra.sh"
    assert (REPO_ROOT / "deploy" / "local" / "infra.sh").is_file(), "deploy/local/infra.sh is gone"


# ---------------------------------------------------------------------------- Dockerfile
def test_the_dockerfile_builds_in_one_stage_and_runs_in_a_slim_python_stage() -> None:
    stages = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(stages) >= 2, f"deploy/Dockerfile must be multi-stage, has FROM {stages}"
    runtime = final_stage()[0][1]
    assert re.match(r"python:(\$\{PYTHON_VERSION\}|3\.11)-slim\b", runtime), runtime
    defaults = dict(
        args.split("=", 1)
        for keyword, args in dockerfile_instructions()
        if keyword == "ARG" and "=" in args
    )
    if "${PYTHON_VERSION}" in runtime:
        assert defaults.get("PYTHON_VERSION") == "3.11", "the runtime must be Python 3.11"


def test_the_dockerfile_installs_the_locked_workspace_without_dev_dependencies() -> None:
    runs = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs, "no `uv sync` in deploy/Dockerfile"
    for sync in syncs:
        assert "--frozen" in sync, f"`uv sync` must use the lock file as is: {sync}"
        assert "--no-dev" in sync, f"dev dependencies must stay out of the image: {sync}"
    assert any("--all-packages" in sync for sync in syncs), (
        "not every workspace member is installed"
    )
    copied = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "COPY")
    for needed in ("pyproject.toml", "uv.lock", "libs", "services"):
        assert needed in copied, f"the build stage does not copy {needed}"


def test_the_dockerfile_runs_the_service_named_by_its_build_arg_as_a_non_root_user() -> None:
    stage = final_stage()
    assert ("ARG", "SERVICE") in stage, "the runtime stage needs ARG SERVICE"
    envs = " ".join(args for keyword, args in stage if keyword == "ENV")
    assert re.search(r"\bSERVICE=\$\{?SERVICE\}?", envs), "ENV SERVICE=${SERVICE} is missing"
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the runtime stage has no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"the service runs as {users[-1]}"
    launch = " ".join(args for keyword, args in stage if keyword in {"CMD", "ENTRYPOINT"})
    # An entrypoint script counts as part of the launch command: read the file it was copied from.
    for keyword, args in stage:
        parts = [part for part in args.split() if not part.startswith("--")]
        if keyword == "COPY" and "--from" not in args and parts[-1] in launch:
            lines = (REPO_ROOT / parts[0]).read_text(encoding="utf-8").splitlines()
            launch += "\n" + "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert re.search(r"python -m \"?\$\{?SERVICE\}?", launch), (
        "neither CMD nor the entrypoint script runs `python -m $SERVICE`"
    )


def test_the_dockerfile_healthcheck_probes_healthz_with_python_urllib() -> None:
    healthchecks = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    assert healthchecks, "deploy/Dockerfile has no HEALTHCHECK"
    probe = healthchecks[-1]
    assert "/healthz" in probe, f"HEALTHCHECK {probe!r} does not probe /healthz"
    assert "python" in probe, f"HEALTHCHECK {probe!r} does not use python"
    if "healthcheck.py" in probe:
        script = REPO_ROOT / "deploy" / "docker" / "healthcheck.py"
        assert "urllib.request" in script.read_text(encoding="utf-8"), f"{script} needs urllib"
    else:
        assert "urllib" in probe, "the HEALTHCHECK must use python's urllib (no curl in slim)"


def test_the_dockerfile_copies_only_what_the_build_context_keeps() -> None:
    patterns = dockerignore_patterns()
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or "--from" in args:
            continue
        for source in [part for part in args.split() if not part.startswith("--")][:-1]:
            assert (REPO_ROOT / source).exists(), f"COPY source {source} does not exist"
            assert not is_dockerignored(source, patterns), f".dockerignore drops {source}"


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv", ".infra", ".git", "libs/common/src/common/__pycache__"):
        assert is_dockerignored(path, patterns), f".dockerignore lets {path} into the image"
    for path in ("pyproject.toml", "uv.lock", "libs/common/src/common/settings.py"):
        assert not is_dockerignored(path, patterns), f".dockerignore drops {path}"


# ---------------------------------------------------------------------------- Kubernetes
def test_kubernetes_has_a_deployment_and_a_service_per_app_service() -> None:
    expected = {*APP_SERVICES, CONSOLE}
    assert set(deployments()) == expected, f"Deployments: {sorted(deployments())}"
    services = {doc["metadata"]["name"]: doc for _, doc in k8s_of_kind("Service")}
    for name, port in APP_PORTS.items():
        assert name in services, f"no Kubernetes Service for {name}"
        spec = services[name]["spec"]
        labels = deployments()[name]["spec"]["template"]["metadata"]["labels"]
        assert spec["selector"].items() <= labels.items(), f"Service {name} selects no pod"
        assert port in {p["port"] for p in spec["ports"]}, f"Service {name} lacks port {port}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_deployment_has_readiness_and_liveness_probes(name: str) -> None:
    for container in containers(deployments()[name]):
        declared = {
            value
            for port in container.get("ports") or []
            for value in (port.get("name"), port.get("containerPort"))
        }
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            spec = container.get(probe)
            assert spec, f"{name}/{container['name']} has no {probe}"
            http = spec.get("httpGet") or {}
            assert http.get("path") == path, f"{name} {probe} hits {http.get('path')}, not {path}"
            assert http.get("port") in declared, f"{name} {probe} port is not a container port"


@pytest.mark.parametrize(("name", "port"), APP_PORTS.items())
def test_every_deployment_runs_its_service_non_root_within_the_partition_count(
    name: str, port: int
) -> None:
    deployment = deployments()[name]
    replicas = deployment["spec"].get("replicas", 1)
    assert 2 <= replicas <= PARTITIONS, f"{name}: {replicas} replicas (2..{PARTITIONS})"
    pod = deployment["spec"]["template"]["spec"]
    assert (pod.get("securityContext") or {}).get("runAsNonRoot") is True
    for container in containers(deployment):
        env = {item["name"]: item for item in container.get("env") or []}
        assert env["DRIVERHOME_SERVICE_NAME"].get("value") == name
        assert env["DRIVERHOME_HTTP_PORT"].get("value") == str(port)
        assert port in {p["containerPort"] for p in container.get("ports") or []}


def test_kubernetes_secrets_are_referenced_never_stored() -> None:
    for file_name, secret in k8s_of_kind("Secret"):
        values = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
        assert not any(values.values()), f"{file_name} stores secret values: {sorted(values)}"
    # Secret name -> the keys it is known to hold (None: an externally filled Secret object).
    provided: dict[str, set[str] | None] = {
        secret["metadata"]["name"]: None for _, secret in k8s_of_kind("Secret")
    }
    for _, external in k8s_of_kind("ExternalSecret"):
        declared = {item["secretKey"] for item in external["spec"].get("data") or []}
        provided[external["spec"]["target"]["name"]] = declared
    assert provided, "no Secret or ExternalSecret for the services' credentials"
    for name, deployment in deployments().items():
        for container in containers(deployment):
            env = {item["name"]: item for item in container.get("env") or []}
            # The console holds no PII key; its own secrets are checked in its test below.
            for key in () if name == CONSOLE else SECRET_ENV:
                ref = (env.get(key, {}).get("valueFrom") or {}).get("secretKeyRef")
                assert ref, f"{name}: {key} must come from a Secret, not a literal"
                assert ref["name"] in provided, f"{name}: {key} reads unknown {ref['name']}"
                held = provided[ref["name"]]
                assert held is None or ref["key"] in held, f"{name}: {ref} provides no such key"


def test_kubernetes_config_map_holds_the_shared_settings() -> None:
    config_maps = {doc["metadata"]["name"]: doc for _, doc in k8s_of_kind("ConfigMap")}
    for name, deployment in deployments().items():
        for container in containers(deployment):
            for source in container.get("envFrom") or []:
                ref = (source.get("configMapRef") or {}).get("name")
                if ref:
                    assert ref in config_maps, f"{name} reads ConfigMap {ref}, which is not here"
                    data = config_maps[ref].get("data") or {}
                    assert data.get("DRIVERHOME_HTTP_HOST") == "0.0.0.0"
                    assert data.get("DRIVERHOME_TOPIC_PARTITIONS") == str(PARTITIONS)
                    secretish = [k for k in data if k in SECRET_ENV]
                    assert not secretish, f"ConfigMap {ref} holds secrets {secretish}"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization.get("resources") or [])
    present = {str(p.relative_to(K8S_BASE)) for p in K8S_BASE.rglob("*.yaml")}
    present -= {"kustomization.yaml"}
    assert listed == present, f"kustomization resources {sorted(listed)} vs files {sorted(present)}"


def test_the_console_runs_without_kafka_or_a_database_and_reaches_only_the_apis() -> None:
    console = compose()["services"][CONSOLE]
    assert f"127.0.0.1:{CONSOLE_PORT}:{CONSOLE_PORT}" in console["ports"]
    assert {"registry", "points", "notify", "cases"} <= set(console["depends_on"])
    deployment = deployments()[CONSOLE]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    for container in containers(deployment):
        env = {item["name"]: item for item in container.get("env") or []}
        assert env["DRIVERHOME_HTTP_PORT"]["value"] == str(CONSOLE_PORT)
        assert env["DRIVERHOME_REGISTRY_URL"]["value"] == f"http://registry:{APP_PORTS['registry']}"
        assert not {"DRIVERHOME_KAFKA_USERNAME", "DRIVERHOME_MONGO_URL"} & set(env)
        assert env["DRIVERHOME_SESSION_SECRET"]["valueFrom"]["secretKeyRef"]["optional"] is True
    policy = next(
        doc for _, doc in k8s_of_kind("NetworkPolicy") if doc["metadata"]["name"] == CONSOLE
    )
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports") or []}
    assert 27017 not in ports and 9093 not in ports, "the console reaches neither Kafka nor Mongo"
