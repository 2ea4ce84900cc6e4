"""Check-ins and occupancy: a use of a service recorded once, the bed or parking space it holds,
and checking out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from common.clock import Clock, utc_now
from common.events import new_event
from common.events.stations import ServiceUsed
from common.outbox import outbox_entry
from stations.directory import Directory
from stations.domain import (
    Checkin,
    CheckinChannel,
    CheckinNotFound,
    CheckinStatus,
    LastSeen,
    NoCapacity,
    NothingToRelease,
    Resource,
    Station,
    StationsError,
    impossible_travel,
    refuse_use,
    resource_of,
)
from stations.drivers import Drivers
from stations.records import EVENT_SOURCE, TOPIC, Announcer
from stations.settings import StationsSettings
from stations.store.checkins import CheckinStore
from stations.store.drivers import DriverFacts
from stations.store.stations import StationStore

# Tries at judging a use against a driver's last one while other uses keep replacing it.
_TRAVEL_ATTEMPTS = 5


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


class Checkins:
    def __init__(
        self,
        checkins: CheckinStore,
        stations: StationStore,
        *,
        directory: Directory,
        drivers: Drivers,
        announcer: Announcer,
        settings: StationsSettings,
        clock: Clock = utc_now,
    ) -> None:
        self._checkins = checkins
        self._stations = stations
        self._directory = directory
        self._drivers = drivers
        self._announcer = announcer
        self._settings = settings
        self.now = clock
        # What else follows a counted check-in (stations.rest: a nudged driver's rest); run
        # again on a retry or redelivery, so it must be idempotent.
        self.after_count: Callable[[Checkin], Awaitable[None]] | None = None

    async def record_use(self, use: Use) -> tuple[Checkin, bool]:
        """Record a use once; returns ``(check-in, created)``. Raises the refusal's reason.

        Every step is idempotent under the check-in's id, so a retry or redelivery after a
        crash at any point finishes the same check-in and announces it once.
        """
        existing = await self._checkins.get(use.checkin_id) if use.may_exist else None
        if existing is not None:
            await self._announcer.announce(self._checkins.collection, use.checkin_id)
            await self._followed(existing)
            return existing, False
        station = await self._directory.get_station(use.station_id)
        refuse_use(station, use.service_code, use.used_at)
        driver = await self._drivers.active_driver(use.driver_id)
        resource = resource_of(use.service_code)
        if resource is not None and not await self._stations.take(
            station.station_id, resource, use.checkin_id
        ):
            raise NoCapacity(f"no free {resource} at {station.station_id}")
        try:
            checkin, outbox = await self._judged(use, station, driver, resource)
            inserted = await self._checkins.insert(checkin, outbox, use.fingerprint)
        except BaseException:
            if resource is not None:
                # Nothing was stored: the unit this attempt took goes back (a retry takes it
                # again), so a failed check-in never keeps a bed no check-out can free.
                await self._stations.release(station.station_id, resource, use.checkin_id)
            raise
        if inserted is None:
            winner = await self._checkins.get(use.checkin_id)
            if winner is None:
                raise RuntimeError(f"check-in {use.checkin_id} reported duplicate but not found")
            if checkin.resource is not None and (
                (winner.station_id, winner.resource) != (checkin.station_id, checkin.resource)
            ):
                # The same id recorded elsewhere (or without a unit): this attempt's unit is
                # nobody's, so it goes back.
                await self._stations.release(station.station_id, checkin.resource, use.checkin_id)
            await self._followed(winner)
            return winner, False
        if checkin.status == "counted":
            await self._announcer.announce(
                self._checkins.collection, use.checkin_id, inserted=inserted
            )
            await self._followed(checkin)
        return checkin, True

    async def _judged(
        self, use: Use, station: Station, driver: DriverFacts, resource: Resource | None
    ) -> tuple[Checkin, list[dict[str, Any]]]:
        """The check-in as it will be stored (counted, flagged or a duplicate) and its outbox."""
        flagged = await self._travel_flagged(driver.last, station, use)
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
        return checkin, outbox

    async def _travel_flagged(self, last: LastSeen | None, station: Station, use: Use) -> bool:
        """Whether the use is too far from the driver's last one for the time between them.

        A use judged possible becomes the last one in a write pinned to the last use it was
        judged against, so two uses at once (a copied card at two kiosks) cannot both be judged
        against the same earlier one: the second reads the first and is judged against it.
        """
        seen = LastSeen(
            station_id=station.station_id,
            lat=station.location.lat,
            lng=station.location.lng,
            at=use.used_at,
        )
        for _ in range(_TRAVEL_ATTEMPTS):
            if impossible_travel(
                last,
                station,
                use.used_at,
                max_speed_kmh=self._settings.max_travel_kmh,
                grace_km=self._settings.travel_grace_km,
            ):
                return True
            if await self._drivers.saw(use.driver_id, last, seen):
                return False
            last = (await self._drivers.active_driver(use.driver_id)).last
        # The driver's last use kept moving under this one: an operator looks at it.
        return True

    async def _followed(self, checkin: Checkin) -> None:
        if self.after_count is not None and checkin.status == "counted":
            await self.after_count(checkin)

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
        if await self._checkins.insert(checkin, [], use.fingerprint) is None:
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
