"""Handlers for partners' ``driving.session.v1``: parse, then the two use cases that read it
(stations.rest: the nudge; stations.driving: the position-free driving state for notify)."""

from __future__ import annotations

from common.dispatch import EventHandler, on
from common.events.partner import DrivingSession
from stations.driving import DrivingStates
from stations.rest import RestNudges


class DrivingHandlers:
    def __init__(self, rest: RestNudges, driving: DrivingStates) -> None:
        self._rest = rest
        self._driving = driving

    def handlers(self) -> dict[str, EventHandler]:
        return {"driving.session.v1": on(DrivingSession, self.on_driving_session)}

    async def on_driving_session(self, data: DrivingSession) -> None:
        # Idempotent by the nudge's id (driver, session): no processed-event marker needed.
        await self._rest.on_session(data)
        # Idempotent by the announcement's key (session and slot, or its end).
        await self._driving.on_session(data)
