"""Handlers for partners' ``driving.session.v1``: parse, then the two use cases that read it
(stations.rest: the nudge; stations.driving: the position-free driving state for notify).

A report dated further ahead than ``partner_max_future_minutes`` goes to the dead-letter queue
(``reported_at_in_future``): announced, it would keep notify holding the driver's messages until
then, and as the newest report it would make every genuine one after it (even the drive's end)
look older. Old reports are not refused here: the use cases ignore them as stale.
"""

from __future__ import annotations

from datetime import timedelta

from common.clock import Clock, utc_now
from common.dispatch import EventHandler, on
from common.events import InvalidEvent
from common.events.partner import DrivingSession
from stations.domain import implausible_partner_time
from stations.driving import DrivingStates
from stations.rest import RestNudges
from stations.settings import StationsSettings


class DrivingHandlers:
    def __init__(
        self,
        rest: RestNudges,
        driving: DrivingStates,
        settings: StationsSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._rest = rest
        self._driving = driving
        self._max_future = timedelta(minutes=settings.partner_max_future_minutes)
        self._clock = clock

    def handlers(self) -> dict[str, EventHandler]:
        return {"driving.session.v1": on(DrivingSession, self.on_driving_session)}

    async def on_driving_session(self, data: DrivingSession) -> None:
        wrong = implausible_partner_time(
            "reported_at", data.reported_at, self._clock(), max_future=self._max_future
        )
        if wrong is not None:
            raise InvalidEvent("reported_at_in_future", wrong)
        # Idempotent by the nudge's id (driver, session): no processed-event marker needed.
        await self._rest.on_session(data)
        # Idempotent by the announcement's key (session and slot, or its end).
        await self._driving.on_session(data)
