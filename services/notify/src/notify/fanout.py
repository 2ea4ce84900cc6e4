"""Broadcast fan-out work items: one per page of drivers, on notify's own Kafka topic.

The topic is internal to notify (not in the partner-facing catalogue); it is consumed with the
same delivery rules as every other topic, through ``EventConsumer.internal``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from common.events import EventData

WORK_TOPIC = "notify.broadcasts"


class BroadcastBatch(EventData):
    event_type: ClassVar[str] = "notify.broadcast_batch.v1"

    broadcast_id: str
    batch_no: int = Field(ge=0)
    driver_ids: list[str] = Field(max_length=5000)
