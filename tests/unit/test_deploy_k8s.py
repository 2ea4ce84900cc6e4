"""The generated Kubernetes manifests (scripts/render_k8s.py) are current and say what the code
and the access table say: the cluster's topics, users and ACLs cannot drift from the laptop's.

`make deploy-check` goes further (kustomize build + kubeconform); these need no tools."""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from common.access import AccessTable
from common.settings import ServiceSettings, settings_problems
from common.topics import all_topics

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"


def _load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_k8s", REPO_ROOT / "scripts" / "render_k8s.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("render_k8s", module)
    spec.loader.exec_module(module)
    return module


render_k8s = _load_renderer()


def documents(relative: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / relative).read_text()) if d]


def test_the_committed_manifests_equal_the_generators_output() -> None:
    stale = render_k8s.stale(render_k8s.render())
    assert not stale, (
        f"out of date: {[str(p.relative_to(REPO_ROOT)) for p in stale]}; "
        "run `uv run --no-sync python scripts/render_k8s.py`"
    )


def test_every_catalogue_topic_and_its_dlq_twin_has_a_kafka_topic_of_12_partitions() -> None:
    topics = {d["spec"]["topicName"]: d for d in documents("base/kafka/topics.yaml")}
    for topic in all_topics(ServiceSettings()):
        for name in (topic, f"{topic}.dlq"):
            assert name in topics, f"no KafkaTopic for {name}"
            assert topics[name]["spec"]["partitions"] == 12
    assert "notify.broadcasts" in topics, "a service's own work topic is missing"
    for name, topic in topics.items():
        config = topic["spec"]["config"]
        assert "retention.ms" in config or config.get("cleanup.policy") == "compact", name


def test_every_principal_has_a_kafka_user_with_the_access_tables_acls() -> None:
    users = {d["metadata"]["name"]: d for d in documents("base/kafka/users.yaml")}
    table = AccessTable.load()
    assert set(users) == {p.username for p in table.principals.values()}
    for principal in table.principals.values():
        spec = users[principal.username]["spec"]
        assert spec["authentication"]["type"] == "scram-sha-512"
        if principal.superuser:
            assert "authorization" not in spec
            continue
        granted = {
            (acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"], op)
            for acl in spec["authorization"]["acls"]
            for op in acl["operations"]
        }
        expected = {
            (
                "topic" if b.resource_type == 2 else "group",
                b.name,
                "literal" if b.pattern == 3 else "prefix",
                render_k8s._OPERATIONS[b.operation],
            )
            for b in principal.bindings(create=False)
        }
        assert granted == expected, principal.name


def test_the_admin_is_the_clusters_only_super_user() -> None:
    kafka = next(d for d in documents("base/kafka/cluster.yaml") if d["kind"] == "Kafka")
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple", "superUsers": ["admin"]}
    listeners = kafka["spec"]["kafka"]["listeners"]
    assert all(lst["tls"] and lst["authentication"]["type"] == "scram-sha-512" for lst in listeners)


@pytest.mark.parametrize("service", render_k8s.SERVICES)
def test_each_service_scales_on_the_lag_of_its_real_consumer_groups(service: str) -> None:
    docs = {d["kind"]: d for d in documents(f"base/services/{service}.yaml")}
    groups = {t["metadata"]["consumerGroup"] for t in docs["ScaledObject"]["spec"]["triggers"]}
    # The groups the code subscribes with: contract topics, the partner pattern, and every
    # `group="..."` of the service's app (its internal subscriptions).
    app = (REPO_ROOT / "services" / service / "src" / service / "app.py").read_text()
    for suffix in re.findall(r'group="([a-z-]+)"', app):
        assert f"{service}.{suffix}" in groups
    if "consumer.partners(" in app or ".partners(" in app:
        assert f"{service}.partners" in groups
    for topic in re.findall(r'consumer\.domain\(\s*"([a-z.]+)"', app):
        assert f"{service}.{topic}" in groups
    assert docs["ScaledObject"]["spec"]["maxReplicaCount"] == 12


@pytest.mark.parametrize("service", render_k8s.SERVICES)
def test_each_service_reads_its_kafka_password_from_its_kafka_user_secret(service: str) -> None:
    deployment = next(
        d for d in documents(f"base/services/{service}.yaml") if d["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        env = {e["name"]: e for e in container["env"]}
        assert env["DRIVERHOME_KAFKA_USERNAME"]["value"] == f"service.{service}"
        ref = env["DRIVERHOME_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"service.{service}", "key": "password"}
        assert "w=majority" in env["DRIVERHOME_MONGO_URL"]["value"]
    init = pod["initContainers"][0]
    assert init["command"][:4] == ["python", "-m", "common.settings", "--check"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_every_mongo_user_is_limited_to_its_own_database() -> None:
    cluster = documents("base/mongo/cluster.yaml")[0]
    users = {u["name"]: u for u in cluster["spec"]["users"]}
    assert set(users) == set(render_k8s.SERVICES)
    for name, user in users.items():
        assert user["roles"] == [{"name": "readWrite", "db": user["db"]}], name
    assert cluster["spec"]["backup"]["tasks"], "no scheduled backup"


def test_the_production_overlay_names_no_development_key() -> None:
    text = "".join(p.read_text() for p in (K8S / "overlays" / "production").iterdir())
    for marker in render_k8s.DEVELOPMENT_MARKERS:
        assert marker not in text


def test_the_settings_check_names_the_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIVERHOME_ENVIRONMENT", "production")
    for name in ("DRIVERHOME_JWT_ISSUER", "DRIVERHOME_JWT_JWKS_URL", "DRIVERHOME_PII_KEY"):
        monkeypatch.delenv(name, raising=False)
    problems = "\n".join(settings_problems(ServiceSettings))
    assert "DRIVERHOME_PII_KEY is not set" in problems
    assert "DRIVERHOME_JWT_ISSUER is not set" in problems
    assert "DRIVERHOME_JWT_JWKS_URL is not set" in problems


def test_production_names_the_identity_provider_and_no_token_secret() -> None:
    config = documents("overlays/production/config.yaml")[0]["data"]
    assert config["DRIVERHOME_JWT_ISSUER"].startswith("https://")
    assert config["DRIVERHOME_JWT_JWKS_URL"].startswith("https://")
    secrets = documents("overlays/production/secrets.yaml")[0]["spec"]["data"]
    keys = {entry["secretKey"] for entry in secrets}
    assert {"pii-key", "pii-hmac-key", "partner-hash-keys"} <= keys
    assert not any("jwt" in key for key in keys)  # tokens are verified, never signed, here
    every_manifest = "".join(p.read_text() for p in K8S.rglob("*.yaml"))
    assert "DRIVERHOME_JWT_SECRET" not in every_manifest


def test_the_production_settings_with_the_overlays_variables_are_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in documents("overlays/production/config.yaml")[0]["data"].items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("DRIVERHOME_ENVIRONMENT", "production")
    # What the platform's secret store provides (fresh values, as a deployment would have).
    for name, fill in (("PII_KEY", b"p"), ("PII_HMAC_KEY", b"h"), ("CURSOR_KEY", b"c")):
        monkeypatch.setenv(f"DRIVERHOME_{name}", base64.b64encode(fill * 32).decode())
    monkeypatch.setenv(
        "DRIVERHOME_PARTNER_HASH_KEYS",
        '{"port-booking": {"pb1": "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI="}}',
    )
    assert settings_problems(ServiceSettings) == []


SIX = ("registry", "points", "stations", "notify", "cases", "partners")


def test_the_stores_take_connections_from_the_services_only() -> None:
    """MongoDB and the brokers' service listener are reachable from the six services (and the
    store's members, its operator, KEDA), never from any other pod such as the console."""
    [policy] = [d for d in documents("base/mongo/cluster.yaml") if d["kind"] == "NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "mongod"
    [rule] = policy["spec"]["ingress"]
    named = {
        peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        for peer in rule["from"]
        if "namespaceSelector" not in peer
    }
    assert named == {*SIX, None}, "the services, and the members (selected by component)"
    [kafka] = [d for d in documents("base/kafka/cluster.yaml") if d["kind"] == "Kafka"]
    [tls] = [x for x in kafka["spec"]["kafka"]["listeners"] if x["name"] == "tls"]
    peers = [
        p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in tls["networkPolicyPeers"]
        if "podSelector" in p
    ]
    assert sorted(peers) == sorted(SIX)


@pytest.mark.parametrize("service", SIX)
def test_every_service_reaches_public_https_for_the_identity_providers_keys(service: str) -> None:
    [policy] = [
        d for d in documents(f"base/services/{service}.yaml") if d["kind"] == "NetworkPolicy"
    ]
    https = [r for r in policy["spec"]["egress"] if {"protocol": "TCP", "port": 443} in r["ports"]]
    assert https and "ipBlock" in https[0]["to"][0], "without the JWKS every token is refused"
