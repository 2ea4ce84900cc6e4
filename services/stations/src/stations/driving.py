"""Driving state for notify (issue 17: "never during driving for non-urgent" messages).

notify must know whether a driver is at the wheel, but not where: so stations, which already
reads the partner's ``driving.session.v1`` and holds the driver's location consent, announces
the position-free part as ``driving.reported.v1``. Only for an active driver with the location
consent (the same rule as the rest nudge), only for a recent report, and not for every report:
at a session's first report, then once per ``driving_report_every_minutes`` slot while it lasts
(notify's driving state goes stale unless renewed), and when the partner says it ended.

One document per driver (``driving``) keeps the last announcement's key and, as the outbox, the
event; a report whose key was announced already changes nothing (a redelivery, or the next
report within the same slot). No position is kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.clock import Clock, utc_now
from common.events import new_event
from common.events.partner import DrivingSession
from common.events.stations import DrivingReported
from common.mongo import Indexes, is_duplicate_key
from common.outbox import outbox_entry, push_outbox
from stations.domain import derived_id
from stations.records import EVENT_SOURCE, TOPIC, Announcer
from stations.settings import StationsSettings
from stations.store.drivers import DRIVERS

Document = dict[str, Any]

DRIVING = "driving"
INDEXES = [Indexes(DRIVING)]


def report_key(session: DrivingSession, every_minutes: int) -> str:
    """Which announcement a report belongs to: the session's end, or its time slot."""
    if session.ended:
        return f"{session.session_id}\x1fended"
    slot = int(session.reported_at.timestamp() // (every_minutes * 60))
    return f"{session.session_id}\x1f{slot}"


class DrivingStates:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        announcer: Announcer,
        settings: StationsSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.collection = db[DRIVING]
        self._drivers = db[DRIVERS]
        self._announcer = announcer
        self._settings = settings
        self._clock = clock

    async def on_session(self, session: DrivingSession) -> str | None:
        """Announce the report if it starts a slot or ends the drive; returns the event id."""
        age = self._clock() - session.reported_at
        if age > timedelta(minutes=self._settings.rest_report_max_age_minutes):
            return None  # an old report says nothing about now (and a replay announces nothing)
        consenting = await self._drivers.find_one(
            {"_id": session.driver_id, "active": True, "consents.location": True}, {"_id": 1}
        )
        if consenting is None:
            return None
        key = report_key(session, self._settings.driving_report_every_minutes)
        event_id = derived_id("dr", session.driver_id, key)
        event = new_event(
            DrivingReported(
                driver_id=session.driver_id,
                session_id=session.session_id,
                state="ended" if session.ended else "driving",
                continuous_minutes=session.continuous_minutes,
                reported_at=session.reported_at,
            ),
            source=EVENT_SOURCE,
            subject=session.driver_id,
            event_id=event_id,
            time=session.reported_at,
        )
        try:
            await self.collection.update_one(
                {"_id": session.driver_id, "key": {"$ne": key}},
                push_outbox(
                    {"$set": {"key": key, "reported_at": session.reported_at}},
                    outbox_entry(TOPIC, event),
                ),
                upsert=True,
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise  # else announced already: only finish a publication a crash cut short
        await self._announcer.announce(self.collection, session.driver_id)
        return event_id
