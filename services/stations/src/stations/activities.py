"""Activities at stations: scheduling, registration without overbooking, and attendance
announced once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from common.clock import Clock, utc_now
from common.events import new_event
from common.events.stations import ActivityAttended
from common.outbox import outbox_entry
from stations.directory import Directory
from stations.domain import (
    Activity,
    ActivityFull,
    ActivityKind,
    ActivityNotFound,
    AlreadyAttended,
    NotRegistered,
    StationsError,
    derived_id,
)
from stations.drivers import Drivers
from stations.records import EVENT_SOURCE, TOPIC, Announcer
from stations.store.activities import ActivityStore


class ActivityQuotaReached(StationsError):
    """The station scheduled as many activities this month as it may (409)."""

    code = "activity_quota_reached"


class Activities:
    def __init__(
        self,
        activities: ActivityStore,
        *,
        directory: Directory,
        drivers: Drivers,
        announcer: Announcer,
        clock: Clock = utc_now,
        per_station_month: int | None = None,
    ) -> None:
        self._activities = activities
        # Attendance earns points: a station scheduling without limit could mint them.
        self._per_station_month = per_station_month
        self._directory = directory
        self._drivers = drivers
        self._announcer = announcer
        self.now = clock

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
        await self._directory.get_station(station_id)
        now = self.now()
        month = f"{now.year:04d}-{now.month:02d}"
        if self._per_station_month is not None and not await self._activities.take_monthly_slot(
            station_id, month, self._per_station_month
        ):
            raise ActivityQuotaReached(
                f"station {station_id} scheduled {self._per_station_month} activities in {month}"
            )
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
            created_at=now,
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
        await self._drivers.active_driver(driver_id)
        if activity.ends_at <= self.now():
            raise ActivityFull(f"activity {activity_id} is over")
        if not await self._activities.register(activity_id, driver_id):
            raise ActivityFull(f"activity {activity_id} has no seats left")
        return await self.get_activity(activity_id)

    async def unregister(self, activity_id: str, driver_id: str) -> Activity:
        await self.get_activity(activity_id)
        attendance_id = derived_id("att", activity_id, driver_id)
        if await self._activities.attendance(attendance_id) is not None:
            # Recorded before attendances marked the registration: the mark cannot refuse it.
            raise AlreadyAttended(f"driver {driver_id} attended {activity_id}")
        if not await self._activities.unregister(activity_id, driver_id):
            if await self._activities.has_attended(activity_id, driver_id):
                raise AlreadyAttended(f"driver {driver_id} attended {activity_id}")
            raise NotRegistered(f"driver {driver_id} is not registered for {activity_id}")
        return await self.get_activity(activity_id)

    async def registrants(self, activity_id: str) -> list[str]:
        await self.get_activity(activity_id)
        return await self._activities.registrants(activity_id)

    async def attendees(self, activity_id: str, limit: int) -> list[dict[str, Any]]:
        await self.get_activity(activity_id)
        return await self._activities.attendees(activity_id, limit)

    async def attend(self, activity_id: str, driver_id: str) -> tuple[dict[str, Any], bool]:
        """Record attendance once and announce ``activity.attended.v1`` once."""
        activity = await self.get_activity(activity_id)
        await self._drivers.active_driver(driver_id)
        attendance_id = derived_id("att", activity_id, driver_id)
        existing = await self._activities.attendance(attendance_id)
        if existing is not None:
            await self._announcer.announce(self._activities.attendances, attendance_id)
            return existing, False
        # Marked on the registration itself: a cancellation at the same moment either lands
        # first (no attendance) or is refused (the seat stays used).
        if activity.registration_required and not await self._activities.mark_attending(
            activity_id, driver_id
        ):
            raise NotRegistered(f"driver {driver_id} did not register for {activity_id}")
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
        await self._announcer.announce(self._activities.attendances, attendance_id)
        if not created:
            return await self._activities.attendance(attendance_id) or record, False
        return record, True
