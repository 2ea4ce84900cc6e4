"""Handlers for partners' ``driving.session.v1``: parse, one use-case call (stations.rest)."""

from __future__ import annotations

from common.dispatch import EventHandler, on
from common.events.partner import DrivingSession
from stations.rest import RestNudges


class DrivingHandlers:
    def __init__(self, rest: RestNudges) -> None:
        self._rest = rest

    def handlers(self) -> dict[str, EventHandler]:
        return {"driving.session.v1": on(DrivingSession, self.on_driving_session)}

    async def on_driving_session(self, data: DrivingSession) -> None:
        # Idempotent by the nudge's id (driver, session): no processed-event marker needed.
        await self._rest.on_session(data)
