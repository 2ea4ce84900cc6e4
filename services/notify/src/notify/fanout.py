"""Broadcast fan-out work items: one per page of drivers, on the service's own Kafka topic.

The topic is internal to notify (not in the partner-facing catalogue), so its consumer is a
small extension of the common one: same delivery rules (manual commits after the effect,
poison to the DLQ, transient errors retried), one known work-item type.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from common.bus import EventConsumer, EventHandler
from common.events import CloudEvent, EventData, InvalidEvent, parse_data

WORK_TOPIC = "notify.broadcasts"


class BroadcastBatch(EventData):
    event_type: ClassVar[str] = "notify.broadcast_batch.v1"

    broadcast_id: str
    batch_no: int = Field(ge=0)
    driver_ids: list[str] = Field(max_length=5000)


class WorkConsumer(EventConsumer):
    def work(self, topic: str, model: type[EventData], handler: EventHandler) -> None:
        async def route(event: CloudEvent, record: object) -> None:
            if event.type != model.event_type:
                raise InvalidEvent("unknown_type", f"{event.type} is not a {topic} work item")
            await handler(event, parse_data(event, model))

        self._subscribe(route, topic=self._settings.topic(topic))
