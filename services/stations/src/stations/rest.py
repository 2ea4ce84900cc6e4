"""Rest nudges (issue 17): a driver past the continuous-driving threshold is told where to rest.

Why here: the stations service already owns what the decision needs - stations' positions,
opening hours, free beds and parking, the service circle's minutes and the driver's location
consent - so it decides and announces ``rest.nudged.v1``; notify only words and delivers it,
and points only earns on ``rest.taken.v1``. No other service sees a position.

A partner's ``driving.session.v1`` (continuous minutes and a position) is read only for an
active driver who consented to location, only when past the threshold and recent. The nearest
open station with a free bed or parking space within the circle's minutes is named; the
position is then dropped: the nudge keeps the driver, station, distance and times, never where
the driver was. One nudge per driving session (its id derives from driver and session, inserted
once). When no station qualifies nothing is stored, and the next report of the session tries
again (the driver moves, and beds free up).

A counted check-in by the nudged driver at the named station before ``check_in_by`` takes the
nudge (one conditional update on the open nudge) and announces ``rest.taken.v1`` from the same
document's outbox; points' rule "rest-after-nudge" earns on it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.clock import Clock, utc_now
from common.events import new_event
from common.events.partner import DrivingSession
from common.events.stations import RestNudged, RestTaken
from common.mongo import Indexes, insert_once
from common.outbox import OUTBOX_HIDDEN, outbox_entry, outbox_fields, push_outbox
from stations.domain import Checkin, derived_id
from stations.nearby import Nearby, NearbyQuery, NearbySearch
from stations.records import EVENT_SOURCE, TOPIC, Announcer
from stations.settings import StationsSettings
from stations.store.drivers import DRIVERS

Document = dict[str, Any]

NUDGES = "rest_nudges"
INDEXES = [
    Indexes(
        NUDGES,
        (
            IndexModel([("driver_id", 1), ("station_id", 1), ("state", 1)], name="driver_open"),
            IndexModel([("checkin_id", 1)], name="checkin"),
        ),
    )
]


class RestNudges:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        nearby: NearbySearch,
        announcer: Announcer,
        settings: StationsSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.collection = db[NUDGES]
        self._drivers = db[DRIVERS]
        self._nearby = nearby
        self._announcer = announcer
        self._settings = settings
        self._clock = clock

    async def on_session(self, session: DrivingSession) -> str | None:
        """Nudge once per session past the threshold; returns the nudge id, if any."""
        now = self._clock()
        if session.ended or session.continuous_minutes < self._settings.rest_nudge_minutes:
            return None  # under the threshold, or the drive is over already
        if now - session.reported_at > timedelta(
            minutes=self._settings.rest_report_max_age_minutes
        ):
            return None  # an old position says nothing about where the driver is now
        nudge_id = derived_id("rn", session.driver_id, session.session_id)
        if await self.collection.find_one({"_id": nudge_id}, {"_id": 1}):
            await self._announcer.announce(self.collection, nudge_id)  # a crash before publish
            return nudge_id
        consenting = await self._drivers.find_one(
            {"_id": session.driver_id, "active": True, "consents.location": True}, {"_id": 1}
        )
        if consenting is None:
            return None
        place = await self._nearest(session.lat, session.lng)
        if place is None:
            return None
        event = new_event(
            RestNudged(
                driver_id=session.driver_id,
                nudge_id=nudge_id,
                continuous_minutes=session.continuous_minutes,
                station_id=place.station.station_id,
                station_name=place.station.name,
                distance_km=round(place.distance_km, 1),
                travel_minutes=place.travel_minutes,
                check_in_by=now + timedelta(hours=self._settings.rest_checkin_hours),
                nudged_at=now,
            ),
            source=EVENT_SOURCE,
            subject=session.driver_id,
            event_id=nudge_id,
            time=now,
        )
        doc = {
            "_id": nudge_id,
            "driver_id": session.driver_id,
            "station_id": place.station.station_id,
            "nudged_at": now,
            "check_in_by": now + timedelta(hours=self._settings.rest_checkin_hours),
            "state": "open",
            **outbox_fields(outbox_entry(TOPIC, event)),
        }
        await insert_once(self.collection, doc)  # a concurrent report of the session: one wins
        await self._announcer.announce(self.collection, nudge_id)
        return nudge_id

    async def _nearest(self, lat: float, lng: float) -> Nearby | None:
        minutes = self._settings.service_circle_minutes
        found = await self._nearby.nearby(
            NearbyQuery(
                lat=lat,
                lng=lng,
                radius_km=self._settings.reach_km(minutes),
                open_now=True,
                minutes=minutes,
                limit=50,
            )
        )
        for place in found:  # quickest to reach first
            if place.station.free_of("beds") >= 1 or place.station.free_of("parking") >= 1:
                return place
        return None

    async def on_checkin(self, checkin: Checkin) -> None:
        """A counted check-in takes the driver's open nudge for that station, if in time."""
        if checkin.status != "counted":
            return
        nudge = await self.collection.find_one(
            {
                "driver_id": checkin.driver_id,
                "station_id": checkin.station_id,
                "state": "open",
                "nudged_at": {"$lte": checkin.used_at},
                "check_in_by": {"$gte": checkin.used_at},
            },
            {"_id": 1},
        )
        if nudge is None:
            await self._announce_taken(checkin)
            return
        nudge_id = str(nudge["_id"])
        event = new_event(
            RestTaken(
                driver_id=checkin.driver_id,
                nudge_id=nudge_id,
                station_id=checkin.station_id,
                checkin_id=checkin.checkin_id,
                rested_at=checkin.used_at,
            ),
            source=EVENT_SOURCE,
            subject=checkin.driver_id,
            event_id=f"{nudge_id}.taken",
            time=checkin.used_at,
        )
        await self.collection.update_one(
            {"_id": nudge_id, "state": "open"},
            push_outbox(
                {"$set": {"state": "taken", "checkin_id": checkin.checkin_id}},
                outbox_entry(TOPIC, event),
            ),
        )
        await self._announcer.announce(self.collection, nudge_id)

    async def _announce_taken(self, checkin: Checkin) -> None:
        """A redelivered check-in whose nudge was already taken: finish its announcement."""
        taken = await self.collection.find_one(
            {"checkin_id": checkin.checkin_id, "state": "taken"}, {"_id": 1}
        )
        if taken is not None:
            await self._announcer.announce(self.collection, str(taken["_id"]))

    async def nudge(self, nudge_id: str) -> Document | None:
        return await self.collection.find_one({"_id": nudge_id}, OUTBOX_HIDDEN)
