"""Never during driving for non-urgent messages (issue 17).

notify learns whether a driver is at the wheel from stations' ``driving.reported.v1``: the
position-free part of a partner's ``driving.session.v1``, announced by stations only for a
driver who gave the location consent (docs/stations.md). A report means "driving until
reported_at + driving_stale_minutes" unless a later one renews it; ``ended`` means stopped.

The report's time is the partner's word, passed on by stations (which dead-letters one dated
ahead of its clock). Should such a record reach this topic anyway (from before that check, or by
replay), a report dated more than ``FUTURE_SKEW`` ahead is ignored, and no report makes the
driver count as driving for longer than ``driving_stale_minutes`` from now: one report dated
years ahead would otherwise hold every non-urgent SMS of the driver until then, and, being the
newest, make every genuine report after it (even the drive's end) look older.

While a driver drives, a non-urgent notification's push (SMS) is held with reason ``driving``
(the inbox item is stored at once); urgent categories (a rest nudge, road alerts) go through.
The dispatcher releases a held push when it is due and the driver no longer drives (a renewed
drive holds it longer); a drive's end makes its holds due at once. Holds are ordinary held
notifications in the store, released by conditional updates: a restart loses none and sends
none twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from common.clock import Clock
from common.events.stations import DrivingReported
from notify.settings import NotifySettings
from notify.store.drivers import DriverStore
from notify.store.notifications import NotificationStore

# How far ahead of notify's clock a report may be dated (clock drift between the partner,
# stations and notify). At least stations' own allowance (its partner_max_future_minutes, at
# most 10), so a report stations accepted is not dropped here.
FUTURE_SKEW: Final = timedelta(minutes=10)


class DrivingState:
    def __init__(
        self,
        drivers: DriverStore,
        notifications: NotificationStore,
        *,
        settings: NotifySettings,
        clock: Clock,
    ) -> None:
        self._drivers = drivers
        self._notifications = notifications
        self._stale = timedelta(minutes=settings.driving_stale_minutes)
        self._clock = clock

    async def on_report(self, report: DrivingReported) -> None:
        now = self._clock()
        if report.reported_at > now + FUTURE_SKEW:
            return  # a clock gone wrong says nothing about now (and must not hold messages)
        ended = report.state == "ended"
        # Within the skew a report may still lie a little ahead: the drive counts from now.
        until = None if ended else min(report.reported_at, now) + self._stale
        await self._drivers.note_driving(
            report.driver_id, until, report.reported_at, trusted_until=now + FUTURE_SKEW
        )
        if ended:
            # Also on a redelivered end: releasing what is due already changes nothing.
            await self._notifications.release_driving_holds(report.driver_id, self._clock())
