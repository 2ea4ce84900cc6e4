"""Handlers for the services' erasure confirmations: parse, one use-case call, nothing else."""

from __future__ import annotations

from common.dispatch import EventHandler, on
from common.events import DOMAIN_EVENTS, InvalidEvent
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
        service = topic.split(".", 1)[0]

        async def confirmed(data: ErasureCompleted) -> None:
            await self.on_erasure_completed(service, data)

        return {event_type: on(model, confirmed)}

    async def on_erasure_completed(self, service: str, data: ErasureCompleted) -> None:
        """A confirmation counts for the service whose own topic carried it: its writer is
        checked by topic, so a service naming another would confirm for it."""
        if data.service != service:
            raise InvalidEvent(
                "wrong_service", f"a confirmation on {service}'s topic names {data.service!r}"
            )
        await self._receipts.confirmed(data)
