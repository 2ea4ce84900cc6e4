"""Reading a test run's topics: records of one topic, and the dead letters of all of them."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from common.dlq import DLQ_SUFFIX
from common.testing.infra import kafka_options


async def read_topic(
    bootstrap: str, topic: str, *, min_records: int = 1, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic from the beginning, once at least ``min_records`` arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for part in batch.values():
                records.extend(part)
            if len(records) >= min_records:
                # One more short poll so records produced in the same burst are included.
                for part in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(part)
                break
    finally:
        await consumer.stop()
    return records


async def dead_letters(
    bootstrap: str, prefix: str, *, timeout: float = 5.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the ``<prefix>….dlq`` topics: one consumer, reading up to the end
    offsets it saw at the start, so an empty DLQ costs a few metadata round trips."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_options(bootstrap), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        topics = [
            t for t in await admin.list_topics() if t.startswith(prefix) and t.endswith(DLQ_SUFFIX)
        ]
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        for p in t.get("partitions") or ()
    ]
    records: list[ConsumerRecord[bytes, bytes]] = []
    if not partitions:
        return records
    consumer = AIOKafkaConsumer(
        **kafka_options(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=int(timeout * 1000),
    )
    await consumer.start()
    try:
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end}
        if not ends:
            return records
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                break
            for part in (await consumer.getmany(*ends, timeout_ms=300)).values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def unexpected_dead_letters(
    records: list[ConsumerRecord[bytes, bytes]], allowed_reasons: tuple[str, ...] | None
) -> str | None:
    """A report of the records a test did not declare (``allowed_reasons`` None: none
    declared; empty: any reason), or None. Headers only: payloads may hold personal data."""
    if allowed_reasons is None:
        unexpected = records
    elif not allowed_reasons:
        unexpected = []
    else:
        unexpected = [r for r in records if headers_of(r).get("dlq-reason") not in allowed_reasons]
    if not unexpected:
        return None
    lines = [f"{len(unexpected)} unexpected dead letter(s):"]
    for record in unexpected:
        dlq = {k: v for k, v in headers_of(record).items() if k.startswith("dlq-")}
        lines.append(f"  {record.topic}[{record.partition}]@{record.offset}: {dlq}")
    return "\n".join(lines)


def headers_of(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: v.decode() for k, v in (record.headers or ())}
