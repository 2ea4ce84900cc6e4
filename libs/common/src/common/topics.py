"""Topics as the settings declare them: created outside production (with their ``.dlq`` twins),
checked in production, where the platform creates them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from common.dlq import dlq_topic
from common.events import DOMAIN_EVENTS
from common.kafka_auth import settings_options
from common.logging import get_logger
from common.settings import ServiceSettings

log = get_logger(__name__)

# Topics whose records are states keyed by their subject: the last record per key is kept for
# good, so a reader starting from the beginning rebuilds the current state however old it is.
COMPACTED_TOPICS = frozenset({"partners.events"})
COMPACTION = {"cleanup.policy": "compact"}


# How long a consumed topic this principal is refused is tried again (ensure_consumed).
REFUSED_CREATE_RETRY_SECONDS = 15.0

# Kafka error codes met while creating or checking topics.
_TOPIC_EXISTS, _UNKNOWN_TOPIC, _TOPIC_NOT_AUTHORIZED = 36, 3, 29


class TopicsNotAsDeclared(RuntimeError):
    """Production: a topic is missing or not as declared; the service must not start."""


def declared_topic(settings: ServiceSettings, physical: str) -> NewTopic:
    """A topic as the settings declare it: partitions, replication, min ISR, retention."""
    compacted = {settings.topic(t) for t in COMPACTED_TOPICS}
    retention = {"retention.ms": str(int(settings.topic_retention_hours * 3_600_000))}
    shape = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    return NewTopic(
        physical,
        settings.topic_partitions,
        settings.topic_replication_factor,
        topic_configs={**shape, **(COMPACTION if physical in compacted else retention)},
    )


async def ensure_topics(settings: ServiceSettings, logical_names: Iterable[str]) -> None:
    """Make sure each topic and its ``.dlq`` twin exist as declared in the settings.

    Outside production the missing ones are created with the declared partitions, replication
    factor, ``min.insync.replicas`` and retention (set explicitly: the dedupe records' retention
    is validated against it); a topic this principal may not create (the access table gives it
    only the topics it uses) is left to the services that use it. In production topics are the
    platform's to create: each one this principal may see is checked, and a missing or
    differently shaped one stops the start-up (:class:`TopicsNotAsDeclared`).
    """
    names: set[str] = set()
    for logical in logical_names:
        physical = settings.topic(logical)
        names.update({physical, dlq_topic(physical)})
    admin = AIOKafkaAdminClient(
        **settings_options(settings), client_id=f"{settings.service_name}-admin"
    )
    await admin.start()
    try:
        if settings.environment == "production":
            await _check_topics(admin, settings, sorted(names))
            return
        existing = set(await admin.list_topics())
        missing = sorted(names - existing)
        if missing:
            # A refused topic is not this service's to create; if it consumes it, see
            # ensure_consumed.
            await _create(admin, settings, missing)
    finally:
        await admin.close()


async def ensure_consumed(settings: ServiceSettings, physical: Iterable[str]) -> None:
    """Before the consumers start: each topic they subscribe to exists. Outside production a
    service may create the topics it reads (deploy/access.yaml), but a grant given just before
    it starts can take a moment to reach the broker, and meanwhile the creation is refused; a
    consumer subscribed to a missing topic then gives up after its metadata wait. So a refused
    one is tried again (or found made by its owner) for a while; one still missing after that
    is logged and left to the consumer, which fails on it."""
    if settings.environment == "production":
        return  # checked by ensure_topics; the platform creates them
    wanted = set(physical)
    if not wanted:
        return
    admin = AIOKafkaAdminClient(
        **settings_options(settings), client_id=f"{settings.service_name}-admin"
    )
    await admin.start()
    try:
        deadline = time.monotonic() + REFUSED_CREATE_RETRY_SECONDS
        while missing := sorted(wanted - set(await admin.list_topics())):
            refused = await _create(admin, settings, missing)
            if not refused:
                return
            if time.monotonic() >= deadline:
                log.warning("consumed topics missing: creation not authorized", topics=refused)
                return
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def _create(
    admin: AIOKafkaAdminClient, settings: ServiceSettings, missing: list[str]
) -> list[str]:
    """Create these topics and wait for their leaders; the ones this principal was refused."""
    response = await admin.create_topics([declared_topic(settings, n) for n in missing])
    created: list[str] = []
    refused: list[str] = []
    for name, code, *rest in response.topic_errors:
        # Another instance may win the race.
        if code == 0:
            created.append(name)
        elif code == _TOPIC_NOT_AUTHORIZED:
            refused.append(name)
        elif code != _TOPIC_EXISTS:
            message = rest[0] if rest else ""
            raise KafkaError(f"could not create topic {name}: error {code} {message}")
    if created:
        await _wait_for_leaders(admin, created)
    return refused


def _layout_problems(
    name: str, partitions: list[dict[str, Any]], settings: ServiceSettings
) -> list[str]:
    problems = []
    replicas = {len(p.get("replicas") or ()) for p in partitions}
    if len(partitions) != settings.topic_partitions:
        problems.append(
            f"{name}: {len(partitions)} partitions, declared {settings.topic_partitions}"
        )
    if replicas != {settings.topic_replication_factor}:
        problems.append(
            f"{name}: replication factor {sorted(replicas)}, "
            f"declared {settings.topic_replication_factor}"
        )
    return problems


async def _check_topics(
    admin: AIOKafkaAdminClient, settings: ServiceSettings, names: list[str]
) -> None:
    own = settings.topic(f"{settings.service_name}.events")
    problems: list[str] = []
    visible: list[str] = []
    for described in await admin.describe_topics(names):
        name, code = described["topic"], described.get("error_code", 0)
        if code == _TOPIC_NOT_AUTHORIZED and name != own:
            continue  # another service's topic this principal has no business with
        if code:
            problems.append(f"{name}: missing (error {code})")
            continue
        visible.append(name)
        problems.extend(_layout_problems(name, described.get("partitions") or [], settings))
    if visible:
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in visible]
        for response in await admin.describe_configs(resources):
            for _code, _msg, _type, name, entries in response.resources:
                configs = {entry[0]: entry[1] for entry in entries}
                isr = configs.get("min.insync.replicas")
                if isr != str(settings.topic_min_insync_replicas):
                    problems.append(
                        f"{name}: min.insync.replicas {isr}, "
                        f"declared {settings.topic_min_insync_replicas}"
                    )
    if problems:
        raise TopicsNotAsDeclared(
            "topics are not as declared (production services do not create them): "
            + "; ".join(problems)
        )


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str]) -> None:
    """New partitions answer NotLeaderForPartition until elected; wait instead of erroring."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = await admin.describe_topics(topics)
        if all(
            t.get("error_code", 0) in (0, _TOPIC_NOT_AUTHORIZED)  # created, not ours to use
            and (t.get("partitions") or t.get("error_code"))
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.1)
    log.warning("topic leaders not elected within 30s", topics=topics)


def all_topics(settings: ServiceSettings) -> list[str]:
    """Every logical topic of the platform: domain topics and one per catalogued partner."""
    return [*DOMAIN_EVENTS, *(f"partner.{p}.events" for p in settings.partners)]
