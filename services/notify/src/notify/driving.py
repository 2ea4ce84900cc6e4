"""Never during driving for non-urgent messages (issue 17).

notify learns whether a driver is at the wheel from stations' ``driving.reported.v1``: the
position-free part of a partner's ``driving.session.v1``, announced by stations only for a
driver who gave the location consent (docs/stations.md). A report means "driving until
reported_at + driving_stale_minutes" unless a later one renews it; ``ended`` means stopped.

While a driver drives, a non-urgent notification's push (SMS) is held with reason ``driving``
(the inbox item is stored at once); urgent categories (a rest nudge, road alerts) go through.
The dispatcher releases a held push when it is due and the driver no longer drives (a renewed
drive holds it longer); a drive's end makes its holds due at once. Holds are ordinary held
notifications in the store, released by conditional updates: a restart loses none and sends
none twice.
"""

from __future__ import annotations

from datetime import timedelta

from common.clock import Clock
from common.events.stations import DrivingReported
from notify.settings import NotifySettings
from notify.store.drivers import DriverStore
from notify.store.notifications import NotificationStore


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
        ended = report.state == "ended"
        until = None if ended else report.reported_at + self._stale
        await self._drivers.note_driving(report.driver_id, until, report.reported_at)
        if ended:
            # Also on a redelivered end: releasing what is due already changes nothing.
            await self._notifications.release_driving_holds(report.driver_id, self._clock())
