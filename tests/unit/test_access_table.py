"""The access table (deploy/access.yaml) against every service's contract (issue 12).

A service that starts consuming a topic without a grant, or a grant no contract explains, fails
here before it fails on the secured broker.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from common.access import ADMIN, AUDITOR, AccessTable, librdkafka_properties, main
from common.asyncapi import PARTNER_TOPIC, ServiceContract
from common.events import DOMAIN_EVENTS
from common.partners import DEFAULT_PARTNERS
from common.settings import ServiceSettings
from common.topic_owners import topic_owner
from common.topics import COMPACTED_TOPICS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(
    p.parts[-4] for p in ROOT.glob("services/*/src/*/contract.py") if p.parts[-4] == p.parts[-2]
)
TABLE = AccessTable.load()
PARTNER_TOPICS = [f"partner.{p}.events" for p in DEFAULT_PARTNERS]

# Grants beyond what a contract lists, each with its reason.
EXTRA_READS = {
    # The partner directory (partners.events) is read by every service that judges partner
    # records; notify's broadcast fan-out runs through its own work topic.
    "registry": {"partners.events"},
    "points": {"partners.events"},
    "stations": {"partners.events"},
    "cases": {"partners.events"},  # party life reads partner topics (issue 17)
    # notify subscribes to every other domain topic, skipping types it has no handler for.
    "notify": {"notify.broadcasts", *(t for t in DOMAIN_EVENTS if t != "notify.events")},
    # Rejections: what the consumers dead-lettered from the partner topics.
    "partners": {f"{t}.dlq" for t in PARTNER_TOPICS},
}
EXTRA_WRITES = {
    "notify": {
        "notify.broadcasts",
        *(f"{t}.dlq" for t in EXTRA_READS["notify"]),
    }
}


def contract(service: str) -> ServiceContract:
    loaded: ServiceContract = importlib.import_module(f"{service}.contract").contract()
    return loaded


def expand(topics: object) -> set[str]:
    out: set[str] = set()
    for topic in topics:  # type: ignore[attr-defined]
        out.update(PARTNER_TOPICS if topic == PARTNER_TOPIC else {topic})
    return out


def test_every_service_with_a_contract_has_a_principal() -> None:
    assert SERVICES, "no contracts found"
    for service in SERVICES:
        assert f"service:{service}" in TABLE.principals, f"{service} has no principal"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_reads_what_it_consumes_and_writes_its_topic_and_dead_letters(
    service: str,
) -> None:
    c = contract(service)
    principal = TABLE.service(service)
    consumed = expand(c.consumes)
    expected_writes = {*expand(c.publishes), *(f"{t}.dlq" for t in consumed)} | EXTRA_WRITES.get(
        service, set()
    )
    expected_reads = consumed | EXTRA_READS.get(service, set())
    # Replaying dead letters (common.dlq_api): read on the .dlq twin of every topic it reads
    # (browsing) and of every topic it writes (its own topics' dead letters, replayed by it as
    # their owner), read on the topics it writes (a dead letter is checked against the record
    # it names there before it is replayed), and no write beyond what it writes anyway.
    sources = {t for t in expected_reads | expected_writes if not t.endswith(".dlq")}
    written = {t for t in expected_writes if not t.endswith(".dlq")}
    assert set(principal.read) == expected_reads | written | {f"{t}.dlq" for t in sources}
    assert set(principal.write) == expected_writes
    # It never writes a topic another service or a partner owns (the partner gateway writes the
    # partners' topics on their behalf).
    gateway = getattr(c, "partner_gateway", False)
    for topic in principal.write:
        if topic.endswith(".dlq") or (gateway and topic in PARTNER_TOPICS):
            continue
        assert topic.split(".", 1)[0] == service, topic
    assert not set(principal.write) & COMPACTED_TOPICS - set(expand(c.publishes))
    assert c.group_id is None or any(c.group_id.startswith(g) for g in principal.groups)


def test_each_partner_writes_only_its_own_topic_and_reads_nothing() -> None:
    for partner_id in DEFAULT_PARTNERS:
        principal = TABLE.get(f"partner:{partner_id}")
        assert principal.username == f"partner.{partner_id}"
        assert principal.write == (f"partner.{partner_id}.events",)
        assert principal.read == () and principal.groups == ()
        assert not principal.superuser


def test_the_admin_is_the_only_super_user_besides_the_broker_and_the_auditor_only_reads() -> None:
    assert TABLE.superusers() == ["broker", ADMIN]
    auditor = TABLE.get(AUDITOR)
    assert auditor.write == () and auditor.read == ("*",) and not auditor.create
    assert {b.operation for b in auditor.bindings()} <= {"read", "describe", "describe_configs"}


def test_grants_are_rendered_under_a_test_runs_prefix() -> None:
    bindings = TABLE.service("cases").bindings("t0123456789.")
    names = {(b.name, b.operation) for b in bindings}
    assert ("t0123456789.cases.events", "write") in names
    assert ("t0123456789.registry.events", "read") in names
    assert ("t0123456789.registry.events.dlq", "write") in names
    assert ("t0123456789.registry.events", "write") not in names  # replayed by its owner
    assert ("t0123456789.cases.events.dlq", "read") in names  # its own topic's, to replay
    assert ("t0123456789.registry.events.dlq", "read") in names  # its dead letters, browsed
    assert all(b.name.startswith("t0123456789.") for b in bindings)


def test_a_kafka_config_file_is_written_for_a_principal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = tmp_path / "credentials.json"
    main(["credentials", str(creds), "--bootstrap", "127.0.0.1:9092"])
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    users = json.loads(creds.read_text())["users"]
    assert set(users) == set(TABLE.usernames())
    main(["kafka-config", str(creds), "partner:port-booking", "--out-dir", str(tmp_path)])
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    text = path.read_text()
    assert "sasl.username=partner.port-booking" in text
    assert "sasl.mechanisms=SCRAM-SHA-512" in text
    assert text == librdkafka_properties(json.loads(creds.read_text()), "partner.port-booking")
    # Completing the file keeps every password (a restart must not lock anyone out).
    main(["credentials", str(creds), "--bootstrap", "127.0.0.1:9092"])
    assert json.loads(creds.read_text())["users"] == users


def test_sasl_settings_need_a_user_and_password_and_a_sane_topic_shape() -> None:
    with pytest.raises(ValueError, match="kafka_username"):
        ServiceSettings(kafka_security_protocol="SASL_PLAINTEXT")
    with pytest.raises(ValueError, match="min_insync"):
        ServiceSettings(topic_replication_factor=1, topic_min_insync_replicas=2)
    ok = ServiceSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_username="service.points",
        kafka_password="x",  # type: ignore[arg-type]
        topic_replication_factor=3,
        topic_min_insync_replicas=2,
    )
    assert ok.kafka_password is not None and "kafka_password=SecretStr('**********')" in repr(ok)


def test_each_domain_topic_has_one_writing_service_and_it_owns_the_replays() -> None:
    """One writer per domain topic, replay grants counted: no service principal writes a topic
    another service writes, and the one that writes it is the topic's owner, who replays its
    dead letters (common.topic_owners) and may read their .dlq twin."""
    writers: dict[str, set[str]] = {}
    for service in SERVICES:
        principal = TABLE.service(service)
        for topic in principal.write:
            if not topic.endswith(".dlq"):
                writers.setdefault(topic, set()).add(service)
    assert writers, "no service writes anything"
    for topic, services in writers.items():
        assert services == {topic_owner(topic)}, (topic, services)
        assert f"{topic}.dlq" in TABLE.service(topic_owner(topic)).read, topic
    # Every topic a service reads has an owner among the services that writes it (so each of its
    # dead letters has somewhere to be replayed from), or is a partner's, written by the gateway.
    for service in SERVICES:
        for topic in TABLE.service(service).read:
            if not topic.endswith(".dlq") and topic != "*":
                assert service in writers.get(topic, set()) or topic_owner(topic) in writers.get(
                    topic, set()
                ), topic
