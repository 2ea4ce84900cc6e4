"""How a batch splits into key lanes: one lane per key across partitions and topics, offset
order kept inside each, keyless records by partition."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from common.batches import key_lanes


def record(
    topic: str, partition: int, offset: int, key: bytes | None
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=b"{}",
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=2,
        headers=(),
    )


def test_one_lane_per_key_in_offset_order_and_keyless_records_by_partition() -> None:
    batch = [
        record("partner.a.events", 0, 10, b"d1"),
        record("partner.a.events", 0, 11, b"d2"),
        record("partner.b.events", 1, 5, b"d1"),  # the same driver from another partner
        record("partner.a.events", 0, 12, None),
        record("partner.a.events", 0, 13, b"d1"),
        record("partner.a.events", 1, 3, None),
        record("partner.a.events", 0, 14, None),
    ]
    lanes = [[(r.topic, r.partition, r.offset) for r in lane] for lane in key_lanes(batch)]
    assert lanes == [
        [("partner.a.events", 0, 10), ("partner.b.events", 1, 5), ("partner.a.events", 0, 13)],
        [("partner.a.events", 0, 11)],
        [("partner.a.events", 0, 12), ("partner.a.events", 0, 14)],
        [("partner.a.events", 1, 3)],
    ]
