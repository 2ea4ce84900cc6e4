"""Only the right writers can use the bus (issue 12), on the real secured broker.

Each principal authenticates with SCRAM-SHA-512 and gets only its grants of deploy/access.yaml;
the consumers check the writer once more (the source of a domain topic's events, the bound of
a compensation) for what a super user or a misconfigured grant lets through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

import common.topics
from common.access import create_acls, delete_acls
from common.events import new_event
from common.events.cases import CaseCompensationGranted
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    access_table,
    grants_in_force,
    headers_of,
    read_topic,
    unique_name,
    wait_until,
)
from common.topics import TopicsNotAsDeclared, ensure_consumed, ensure_topics
from points.app import create_app
from points.settings import PointsSettings
from tests.support import PRODUCTION_KEYS, serve


@pytest.fixture
def secured(infra: Infra) -> Infra:
    if infra.credentials is None:
        pytest.skip("the broker under test has no authentication (no credentials file)")
    return infra


@pytest.fixture
async def topics(secured: Infra, run_id: str) -> AsyncIterator[Callable[[str], str]]:
    """The run's domain and partner topics, created by the admin; the partners' grants on them
    for the test's duration (the services' come with every run)."""
    names = [
        "cases.events",
        "stations.events",
        "points.events",
        "partner.port-booking.events",
        "partner.traffic-safety.events",
    ]
    admin = AIOKafkaAdminClient(**secured.client())
    await admin.start()
    partner_grants = [
        b
        for name, principal in access_table().principals.items()
        if name.startswith("partner:")
        for b in principal.bindings(f"{run_id}.")
    ]
    try:
        await admin.create_topics([NewTopic(f"{run_id}.{n}", 1, 1) for n in names])
        await create_acls(admin, partner_grants)

        async def all_described() -> bool:
            # A busy broker answers for a new topic moments after creating it.
            found = await admin.describe_topics([f"{run_id}.{n}" for n in names])
            return all(t.get("error_code", 0) == 0 and t.get("partitions") for t in found)

        await wait_until(all_described, timeout=30)
        await grants_in_force(secured, partner_grants)
        yield lambda logical: f"{run_id}.{logical}"
        await delete_acls(admin, partner_grants)
    finally:
        await admin.close()


async def write(infra: Infra, username: str, topic: str, value: bytes = b"{}") -> None:
    producer = AIOKafkaProducer(
        **infra.client(username), enable_idempotence=True, request_timeout_ms=10_000
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def read(infra: Infra, username: str, topic: str, *, group: str) -> None:
    consumer = AIOKafkaConsumer(
        topic, **infra.client(username), group_id=group, auto_offset_reset="earliest"
    )
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=3000)
        await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


async def refused(action: Any) -> BaseException:
    with pytest.raises(KafkaError) as caught:
        await asyncio.wait_for(action, timeout=30)
    error: BaseException = caught.value
    return error


async def test_an_unauthenticated_producer_and_consumer_are_refused(
    secured: Infra, topics: Callable[[str], str]
) -> None:
    anonymous = {"bootstrap_servers": secured.kafka_bootstrap, "request_timeout_ms": 5_000}
    producer = AIOKafkaProducer(**anonymous)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    consumer = AIOKafkaConsumer(topics("cases.events"), **anonymous, group_id="points.x")
    with pytest.raises(KafkaConnectionError):
        await consumer.start()
    await consumer.stop()
    # A known user with a wrong password fares no better.
    wrong = {
        **secured.client("partner.port-booking"),
        "sasl_plain_password": "not-the-password",
        "request_timeout_ms": 5_000,
    }
    producer = AIOKafkaProducer(**wrong)
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()


async def test_a_partner_writes_its_own_topic_and_nothing_else(
    secured: Infra, topics: Callable[[str], str], run_id: str
) -> None:
    me = "partner.port-booking"
    await write(secured, me, topics("partner.port-booking.events"))
    for foreign in ("partner.traffic-safety.events", "cases.events", "stations.events"):
        error = await refused(write(secured, me, topics(foreign)))
        assert isinstance(error, TopicAuthorizationFailedError), (foreign, error)
    # Reading is not granted either: not its own topic, not a domain topic.
    for topic in ("partner.port-booking.events", "stations.events"):
        await refused(read(secured, me, topics(topic), group=f"{run_id}.points.spy"))


async def test_a_service_cannot_write_another_services_topic(
    secured: Infra, topics: Callable[[str], str]
) -> None:
    await write(secured, "service.points", topics("points.events"))
    error = await refused(write(secured, "service.points", topics("cases.events")))
    assert isinstance(error, TopicAuthorizationFailedError)
    # The auditor reads everything and writes nothing (not even an idempotent producer id).
    await read(secured, "auditor", topics("points.events"), group=f"auditor.{unique_name()}")
    error = await refused(write(secured, "auditor", topics("points.events")))
    assert isinstance(error, TopicAuthorizationFailedError | ClusterAuthorizationFailedError)


def compensation(driver: str, amount: int, *, source: str) -> bytes:
    granted = CaseCompensationGranted(
        compensation_id=f"case-forged:{driver}:{amount}:{source}",
        case_id="case-forged",
        driver_id=driver,
        kind="missed_deadline",
        amount=amount,
        clock="resolution",
        granted_at=datetime.now(UTC),
    )
    return new_event(granted, source=source, subject=driver).to_bytes()


@pytest.mark.expects_dlq("compensation_above_maximum", "source_not_owner")
async def test_a_forged_compensation_is_refused_by_the_broker_and_dead_lettered_by_points(
    secured: Infra, topics: Callable[[str], str], make_settings: Callable[..., Any], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    driver = unique_name("drv_")
    forged = compensation(driver, 1_000_000, source="driverhome/cases")
    cases_topic = settings.topic("cases.events")
    # At the broker: neither a partner nor another service may write the cases topic.
    for intruder in ("partner.traffic-safety", "service.points", "service.notify"):
        error = await refused(write(secured, intruder, cases_topic, forged))
        assert isinstance(error, TopicAuthorizationFailedError), intruder

    # A super user bypasses the ACLs: the consumers' own checks must still hold.
    app = create_app(settings)
    async with serve(app):
        await app.state.service.open_account(driver, datetime.now(UTC))
        await write(secured, "admin", cases_topic, forged)
        await write(
            secured, "admin", cases_topic, compensation(driver, 10, source="partner/volunteer-team")
        )
        letters = await read_topic(secured.kafka_bootstrap, f"{cases_topic}.dlq", min_records=2)
    reasons = sorted(headers_of(r)["dlq-reason"] for r in letters)
    assert reasons == ["compensation_above_maximum", "source_not_owner"]
    accounts = mongo[settings.mongo_db]["accounts"]
    account = await wait_until(lambda: accounts.find_one({"_id": driver}), timeout=10)
    assert account["balance"] == 0


async def test_in_production_topics_are_checked_against_the_declared_shape_not_created(
    secured: Infra, topics: Callable[[str], str], make_settings: Callable[..., Any]
) -> None:
    production = {**PRODUCTION_KEYS, "topic_partitions": 1}
    settings = make_settings(ServiceSettings, **production)
    admin = AIOKafkaAdminClient(**secured.client())
    await admin.start()
    try:
        # cases.events exists (1 partition, replication 1) but its .dlq twin does not.
        with pytest.raises(TopicsNotAsDeclared, match=r"cases\.events\.dlq: missing"):
            await ensure_topics(settings, ["cases.events"])
        assert topics("cases.events.dlq") not in await admin.list_topics()  # not created
        await admin.create_topics([NewTopic(topics("cases.events.dlq"), 1, 1)])

        async def dlq_known() -> bool:
            # The broker knows a new topic moments after its controller made it.
            (found,) = await admin.describe_topics([topics("cases.events.dlq")])
            return found.get("error_code", 0) == 0 and bool(found.get("partitions"))

        await wait_until(dlq_known, timeout=30)
        await ensure_topics(settings, ["cases.events"])  # as declared: starts
        wider = make_settings(ServiceSettings, **{**production, "topic_partitions": 12})
        with pytest.raises(TopicsNotAsDeclared, match="1 partitions, declared 12"):
            await ensure_topics(wider, ["cases.events"])
    finally:
        await admin.close()


@pytest.fixture
async def ungranted(secured: Infra) -> AsyncIterator[tuple[str, AIOKafkaAdminClient]]:
    """A topic prefix no grant names yet, and the admin; its topics go when the test ends."""
    prefix = f"{unique_name('t')}."
    admin = AIOKafkaAdminClient(**secured.client())
    await admin.start()
    try:
        yield prefix, admin
        made = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if made:
            await admin.delete_topics(made)
    finally:
        await admin.close()


async def test_a_consumed_topic_is_made_once_a_late_grant_is_in_force(
    ungranted: tuple[str, AIOKafkaAdminClient], make_settings: Callable[..., Any]
) -> None:
    prefix, admin = ungranted
    settings = make_settings(PointsSettings, topic_prefix=prefix)
    topic = settings.topic("stations.events")  # read by points, so points may create it
    grants = access_table().principals["service:points"].bindings(prefix)

    async def granted_late() -> None:
        await asyncio.sleep(2)  # the service has been refused by now
        await create_acls(admin, grants)

    started = time.monotonic()
    try:
        await asyncio.gather(ensure_consumed(settings, [topic]), granted_late())
        assert topic in await admin.list_topics()
        assert time.monotonic() - started >= 2
    finally:
        await delete_acls(admin, grants)


async def test_a_consumed_topic_never_granted_is_left_to_the_consumer_after_a_while(
    ungranted: tuple[str, AIOKafkaAdminClient],
    make_settings: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix, admin = ungranted
    monkeypatch.setattr(common.topics, "REFUSED_CREATE_RETRY_SECONDS", 1.5)
    settings = make_settings(PointsSettings, topic_prefix=prefix)
    topic = settings.topic("stations.events")
    started = time.monotonic()
    await asyncio.wait_for(ensure_consumed(settings, [topic]), timeout=30)
    assert time.monotonic() - started >= 1.5  # tried again until its time ran out
    assert topic not in await admin.list_topics()
