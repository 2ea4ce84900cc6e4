"""What the stations use cases share: the topic they announce on and the relay that publishes.

A check-in or an attendance is stored with the event announcing it in the document's outbox;
the relay publishes it right after (or its sweeper, when that fails).
"""

from __future__ import annotations

from typing import Any

from common.logging import get_logger
from common.outbox import RelayRef, no_relay, publish_now

log = get_logger(__name__)

EVENT_SOURCE = "driverhome/stations"
TOPIC = "stations.events"


class Announcer:
    def __init__(self, relay: RelayRef = no_relay) -> None:
        # Read when announcing: the relay starts after the use cases are wired.
        self._relay = relay

    async def announce(
        self, collection: Any, doc_id: str | int, *, inserted: dict[str, Any] | None = None
    ) -> None:
        """Publish a document's pending events; ``inserted``: the document as this call just
        inserted it (published without reading it back)."""
        await publish_now(self._relay, collection, doc_id, inserted=inserted)
