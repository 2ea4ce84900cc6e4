"""Stations use cases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from common.clock import Clock, utc_now
from common.events import new_event
from common.events.stations import ActivityAttended, ServiceUsed
from common.logging import describe_error, get_logger
from common.outbox import OutboxRelay, outbox_entry
from stations.domain import (
    Activity,
    ActivityFull,
    ActivityKind,
    ActivityNotFound,
    Capacity,
    CapacityInUse,
    Checkin,
    CheckinChannel,
    CheckinNotFound,
    CheckinStatus,
    DriverDeactivated,
    Feedback,
    LastSeen,
    NoCapacity,
    NothingToRelease,
    NotRegistered,
    NotYourVisit,
    Resource,
    Station,
    StationNotFound,
    StationsError,
    UnknownDriver,
    cell_query,
    derived_id,
    distance_km,
    impossible_travel,
    refuse_use,
    resource_of,
    travel_minutes,
)
from stations.settings import StationsSettings
from stations.store.activities import ActivityStore
from stations.store.checkins import CheckinStore
from stations.store.drivers import DriverFacts, DriverStore
from stations.store.feedback import FeedbackStore
from stations.store.stations import RESOURCES, StationStore, from_doc

log = get_logger(__name__)

EVENT_SOURCE = "driverhome/stations"
TOPIC = "stations.events"


@dataclass(frozen=True)
class Use:
    """One use of a service, as station staff or a kiosk reports it."""

    checkin_id: str
    driver_id: str
    station_id: str
    service_code: str
    used_at: datetime
    channel: CheckinChannel
    kiosk_id: str | None = None
    fingerprint: str | None = None
    # The partner event that reported the use, (source, id): announced with it for receipts.
    cause: tuple[str, str] | None = None
    # False for a freshly generated id: nothing can have recorded it yet, skip the lookup.
    may_exist: bool = True


@dataclass(frozen=True)
class Nearby:
    station: Station
    distance_km: float
    travel_minutes: int
    open_now: bool


@dataclass(frozen=True)
class NearbyQuery:
    lat: float
    lng: float
    radius_km: float
    facilities: frozenset[str] = frozenset()
    open_now: bool = False
    free_beds: bool = False
    free_parking: bool = False
    limit: int = 20


@dataclass(frozen=True)
class Stores:
    stations: StationStore
    checkins: CheckinStore
    drivers: DriverStore
    activities: ActivityStore
    feedback: FeedbackStore


class StationsService:
    def __init__(
        self,
        stores: Stores,
        settings: StationsSettings,
        relay: OutboxRelay | None,
        clock: Clock = utc_now,
    ) -> None:
        self._stations = stores.stations
        self._checkins = stores.checkins
        self._drivers = stores.drivers
        self._activities = stores.activities
        self._feedback = stores.feedback
        self._settings = settings
        self._relay = relay
        self.now = clock

    def use_relay(self, relay: OutboxRelay | None) -> None:
        """The relay exists once the broker runs, after the consumers are wired."""
        self._relay = relay

    # --- stations -----------------------------------------------------------------------------

    async def add_station(self, fields: dict[str, Any]) -> Station:
        now = self.now()
        capacity = Capacity.model_validate(fields.get("capacity") or {})
        station = Station.model_validate(
            {
                **fields,
                "station_id": fields.get("station_id") or f"stn_{uuid.uuid4().hex[:12]}",
                "capacity": capacity,
                "free": {r: getattr(capacity, r) for r in RESOURCES},
                "created_at": now,
                "updated_at": now,
            }
        )
        await self._stations.insert(station)
        return station

    async def get_station(self, station_id: str) -> Station:
        station = await self._stations.get(station_id)
        if station is None:
            raise StationNotFound(f"no station {station_id}")
        return station

    async def change_station(self, station_id: str, changes: dict[str, Any]) -> Station:
        """Apply a partial change; capacity changes keep every held bed and space."""
        current = await self.get_station(station_id)
        # Validate the merged result before writing any of it.
        Station.model_validate({**current.model_dump(), **changes})
        fields = dict(changes)
        capacity = fields.pop("capacity", None)
        if capacity is not None:
            wanted = Capacity.model_validate(capacity)
            for resource in RESOURCES:
                delta = getattr(wanted, resource) - getattr(current.capacity, resource)
                if not await self._stations.adjust_capacity(station_id, resource, delta):
                    raise CapacityInUse(
                        f"{resource} cannot shrink by {-delta}: fewer are free right now"
                    )
            fields["capacity.showers"] = wanted.showers
        if fields:
            await self._stations.set_fields(station_id, fields, self.now())
        return await self.get_station(station_id)

    async def stations(
        self, *, filters: dict[str, Any], after: str | None, limit: int
    ) -> Sequence[Station]:
        return await self._stations.page(filters=filters, after=after, limit=limit)

    async def nearby(self, query: NearbyQuery) -> list[Nearby]:
        """Stations within the radius, nearest first: indexed cells, then exact distance."""
        now = self.now()
        found: list[Nearby] = []
        for doc in await self._stations.candidates(
            cell_query(query.lat, query.lng, query.radius_km)
        ):
            where = doc["location"]
            km = distance_km(query.lat, query.lng, where["lat"], where["lng"])
            if km > query.radius_km:
                continue
            station = from_doc(doc)
            offered = {s.code for s in station.services}
            if not query.facilities <= offered:
                continue
            open_now = station.is_open(now)
            if query.open_now and not open_now:
                continue
            if query.free_beds and station.free_of("beds") < 1:
                continue
            if query.free_parking and station.free_of("parking") < 1:
                continue
            minutes = travel_minutes(
                km, self._settings.travel_speed_kmh, self._settings.road_factor
            )
            found.append(Nearby(station, km, minutes, open_now))
        found.sort(key=lambda n: (n.distance_km, n.station.station_id))
        return found[: query.limit]

    # --- check-ins ----------------------------------------------------------------------------

    async def record_use(self, use: Use) -> tuple[Checkin, bool]:
        """Record a use once; returns ``(check-in, created)``. Raises the refusal's reason.

        Every step is idempotent under the check-in's id, so a retry or redelivery after a
        crash at any point finishes the same check-in and announces it once.
        """
        existing = await self._checkins.get(use.checkin_id) if use.may_exist else None
        if existing is not None:
            await self._announce(self._checkins.collection, use.checkin_id)
            return existing, False
        station = await self.get_station(use.station_id)
        refuse_use(station, use.service_code, use.used_at)
        driver = await self.active_driver(use.driver_id)
        flagged = impossible_travel(
            driver.last,
            station,
            use.used_at,
            max_speed_kmh=self._settings.max_travel_kmh,
            grace_km=self._settings.travel_grace_km,
        )
        resource = resource_of(use.service_code)
        if resource is not None and not await self._stations.take(
            station.station_id, resource, use.checkin_id
        ):
            raise NoCapacity(f"no free {resource} at {station.station_id}")
        status: CheckinStatus
        reason: str | None = None
        if flagged:
            status, reason = "flagged", "impossible_travel"
        elif await self._checkins.claim_window(
            f"{use.driver_id}\x1f{use.station_id}\x1f{use.service_code}",
            use.used_at,
            timedelta(minutes=self._settings.checkin_window_minutes),
            use.checkin_id,
        ):
            status = "counted"
        else:
            status, reason = "duplicate", "within_window"
            if resource is not None:
                # The same stay reported twice: it holds one bed, not two.
                await self._stations.release(station.station_id, resource, use.checkin_id)
                resource = None
        checkin = Checkin(
            checkin_id=use.checkin_id,
            driver_id=use.driver_id,
            station_id=use.station_id,
            service_code=use.service_code,
            used_at=use.used_at,
            recorded_at=self.now(),
            channel=use.channel,
            status=status,
            reason=reason,
            resource=resource,
            kiosk_id=use.kiosk_id,
        )
        outbox = []
        if status == "counted":
            await self._drivers.saw(
                use.driver_id,
                LastSeen(
                    station_id=station.station_id,
                    lat=station.location.lat,
                    lng=station.location.lng,
                    at=use.used_at,
                ),
            )
            event = new_event(
                ServiceUsed(
                    driver_id=use.driver_id,
                    station_id=use.station_id,
                    service_code=use.service_code,
                    used_at=use.used_at,
                    checkin_id=use.checkin_id,
                    cause_source=use.cause[0] if use.cause else None,
                    cause_id=use.cause[1] if use.cause else None,
                ),
                source=EVENT_SOURCE,
                subject=use.driver_id,
                event_id=use.checkin_id,
                time=checkin.recorded_at,
            )
            outbox.append(outbox_entry(TOPIC, event))
        if not await self._checkins.insert(checkin, outbox, use.fingerprint):
            winner = await self._checkins.get(use.checkin_id)
            if winner is None:
                raise RuntimeError(f"check-in {use.checkin_id} reported duplicate but not found")
            return winner, False
        if status == "counted":
            await self._announce(self._checkins.collection, use.checkin_id)
        return checkin, True

    async def record_refused(self, use: Use, error: StationsError) -> Checkin:
        """A kiosk's report that cannot count: kept (visible to operators), never announced."""
        checkin = Checkin(
            checkin_id=use.checkin_id,
            driver_id=use.driver_id,
            station_id=use.station_id,
            service_code=use.service_code,
            used_at=use.used_at,
            recorded_at=self.now(),
            channel=use.channel,
            status="refused",
            reason=error.code,
            kiosk_id=use.kiosk_id,
        )
        if not await self._checkins.insert(checkin, [], use.fingerprint):
            return await self.get_checkin(use.checkin_id)
        return checkin

    async def fingerprint_of(self, checkin_id: str) -> str | None:
        return await self._checkins.fingerprint_of(checkin_id)

    async def get_checkin(self, checkin_id: str) -> Checkin:
        checkin = await self._checkins.get(checkin_id)
        if checkin is None:
            raise CheckinNotFound(f"no check-in {checkin_id}")
        return checkin

    async def checkins(
        self, *, filters: dict[str, Any], after: dict[str, Any] | None, limit: int
    ) -> list[Checkin]:
        return await self._checkins.page(filters=filters, after=after, limit=limit)

    async def check_out(self, checkin_id: str) -> Checkin:
        """Free the bed or parking space a check-in holds (idempotent per step)."""
        checkin = await self.get_checkin(checkin_id)
        if checkin.resource is None or checkin.checked_out_at is not None:
            raise NothingToRelease(f"check-in {checkin_id} holds no bed or parking space")
        await self._stations.release(checkin.station_id, checkin.resource, checkin_id)
        done = await self._checkins.mark_checked_out(checkin_id, self.now())
        if done is None:
            raise NothingToRelease(f"check-in {checkin_id} is already checked out")
        return done

    # --- drivers (from registry.events) -------------------------------------------------------

    async def active_driver(self, driver_id: str) -> DriverFacts:
        driver = await self._drivers.get(driver_id)
        if driver is None:
            raise UnknownDriver(f"driver {driver_id} is not known to the registry")
        if not driver.active:
            raise DriverDeactivated(f"driver {driver_id} is deactivated")
        return driver

    async def driver_registered(self, driver_id: str, at: datetime) -> None:
        await self._drivers.registered(driver_id, at)

    async def driver_deactivated(self, driver_id: str, at: datetime, erase: bool) -> None:
        await self._drivers.deactivated(driver_id, at, erase)

    async def driver_reactivated(self, driver_id: str, at: datetime) -> None:
        await self._drivers.reactivated(driver_id, at)

    # --- activities ---------------------------------------------------------------------------

    async def add_activity(
        self,
        station_id: str,
        *,
        kind: ActivityKind,
        title: str,
        description: str | None,
        starts_at: datetime,
        ends_at: datetime,
        capacity: int,
        registration_required: bool,
    ) -> Activity:
        await self.get_station(station_id)
        activity = Activity(
            activity_id=f"act_{uuid.uuid4().hex[:12]}",
            station_id=station_id,
            kind=kind,
            title=title,
            description=description,
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity,
            seats_left=capacity,
            registration_required=registration_required,
            created_at=self.now(),
        )
        await self._activities.insert(activity)
        return activity

    async def get_activity(self, activity_id: str) -> Activity:
        activity = await self._activities.get(activity_id)
        if activity is None:
            raise ActivityNotFound(f"no activity {activity_id}")
        return activity

    async def activities(self, station_id: str, limit: int) -> list[Activity]:
        return await self._activities.upcoming(station_id, self.now(), limit)

    async def register(self, activity_id: str, driver_id: str) -> Activity:
        activity = await self.get_activity(activity_id)
        await self.active_driver(driver_id)
        if activity.ends_at <= self.now():
            raise ActivityFull(f"activity {activity_id} is over")
        if not await self._activities.register(activity_id, driver_id):
            raise ActivityFull(f"activity {activity_id} has no seats left")
        return await self.get_activity(activity_id)

    async def unregister(self, activity_id: str, driver_id: str) -> Activity:
        await self.get_activity(activity_id)
        if not await self._activities.unregister(activity_id, driver_id):
            raise NotRegistered(f"driver {driver_id} is not registered for {activity_id}")
        return await self.get_activity(activity_id)

    async def registrants(self, activity_id: str) -> list[str]:
        await self.get_activity(activity_id)
        return await self._activities.registrants(activity_id)

    async def attend(self, activity_id: str, driver_id: str) -> tuple[dict[str, Any], bool]:
        """Record attendance once and announce ``activity.attended.v1`` once."""
        activity = await self.get_activity(activity_id)
        await self.active_driver(driver_id)
        if activity.registration_required and not await self._activities.is_registered(
            activity_id, driver_id
        ):
            raise NotRegistered(f"driver {driver_id} did not register for {activity_id}")
        attendance_id = derived_id("att", activity_id, driver_id)
        existing = await self._activities.attendance(attendance_id)
        if existing is not None:
            await self._announce(self._activities.attendances, attendance_id)
            return existing, False
        now = self.now()
        event = new_event(
            ActivityAttended(
                driver_id=driver_id,
                station_id=activity.station_id,
                activity_id=activity_id,
                activity_kind=activity.kind,
                attended_at=now,
            ),
            source=EVENT_SOURCE,
            subject=driver_id,
            event_id=attendance_id,
            time=now,
        )
        record = {
            "_id": attendance_id,
            "activity_id": activity_id,
            "station_id": activity.station_id,
            "driver_id": driver_id,
            "attended_at": now,
        }
        created = await self._activities.record_attendance(record, [outbox_entry(TOPIC, event)])
        await self._announce(self._activities.attendances, attendance_id)
        if not created:
            return await self._activities.attendance(attendance_id) or record, False
        return record, True

    # --- feedback -----------------------------------------------------------------------------

    async def rate_visit(
        self, checkin_id: str, driver_id: str, rating: int, comment: str | None
    ) -> Feedback:
        checkin = await self.get_checkin(checkin_id)
        if checkin.driver_id != driver_id or checkin.status == "refused":
            raise NotYourVisit(f"check-in {checkin_id} is not a visit of {driver_id}")
        feedback = Feedback(
            checkin_id=checkin_id,
            station_id=checkin.station_id,
            driver_id=driver_id,
            rating=rating,
            comment=comment,
            created_at=self.now(),
        )
        await self._feedback.insert(feedback)
        return feedback

    async def ratings(
        self, station_id: str, recent: int
    ) -> tuple[int, float | None, list[Feedback]]:
        await self.get_station(station_id)
        count, total = await self._feedback.summary(station_id)
        average = round(total / count, 2) if count else None
        return count, average, await self._feedback.recent(station_id, recent)

    # --- outbox -------------------------------------------------------------------------------

    async def _announce(self, collection: Any, doc_id: str) -> None:
        if self._relay is None:
            return
        try:
            await self._relay.flush(collection, doc_id)
        except Exception as exc:  # the state is stored; the sweeper publishes it later
            log.warning("announce deferred to outbox sweeper", error=describe_error(exc))


__all__ = ["Nearby", "NearbyQuery", "Resource", "StationsService", "Stores", "Use"]
