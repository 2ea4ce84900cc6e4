"""Handlers for the services' erasure confirmations: parse, one use-case call, nothing else."""

from __future__ import annotations

from common.dispatch import EventHandler, on
from common.events import DOMAIN_EVENTS
from common.events.erasure import ErasureCompleted
from registry.erasure_receipts import ErasureReceipts

# The topic each answering service confirms on (its own), and the type it confirms with.
CONFIRMING_TOPICS = (
    "points.events",
    "stations.events",
    "notify.events",
    "cases.events",
    "partners.events",
)


def completion_type(topic: str) -> str:
    return f"{topic.split('.', 1)[0]}.erasure_completed.v1"


class ErasureHandlers:
    def __init__(self, receipts: ErasureReceipts) -> None:
        self._receipts = receipts

    def handlers(self, topic: str) -> dict[str, EventHandler]:
        event_type = completion_type(topic)
        model = DOMAIN_EVENTS[topic][event_type]
        assert issubclass(model, ErasureCompleted)
        return {event_type: on(model, self.on_erasure_completed)}

    async def on_erasure_completed(self, data: ErasureCompleted) -> None:
        await self._receipts.confirmed(data)
