"""Handler for the broadcast work topic: one page of drivers per message."""

from __future__ import annotations

from common.events import InvalidEvent
from notify.broadcasts import Broadcasts
from notify.domain import NotFound
from notify.fanout import BroadcastBatch


class BroadcastHandlers:
    def __init__(self, broadcasts: Broadcasts) -> None:
        self._broadcasts = broadcasts

    async def on_broadcast_batch(self, data: BroadcastBatch) -> None:
        try:
            await self._broadcasts.fan_out(data)
        except NotFound as exc:
            raise InvalidEvent("unknown_broadcast", exc.ident) from exc
