"""Handler for the broadcast work topic: one page of drivers per message."""

from __future__ import annotations

from common.events import EventData, InvalidEvent
from notify.domain import NotFound
from notify.fanout import BroadcastBatch
from notify.service import NotifyService


class BroadcastHandlers:
    def __init__(self, service: NotifyService) -> None:
        self._service = service

    async def on_broadcast_batch(self, data: EventData) -> None:
        assert isinstance(data, BroadcastBatch)
        try:
            await self._service.fan_out(data)
        except NotFound as exc:
            raise InvalidEvent("unknown_broadcast", str(exc)) from exc
