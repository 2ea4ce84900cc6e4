"""Handlers for partner kiosks' ``service.used.v1``: parse, one use-case call, nothing else.

The check-in's id is derived from the event's ``(source, id)``, so a redelivered event finds the
check-in it already made. A use the rules refuse (unknown driver, closed station, full) is
kept as a ``refused`` check-in that operators can list: never silently dropped, never announced.
A ``used_at`` outside what a kiosk's clock can mean (settings ``kiosk_use_max_age_days``,
``partner_max_future_minutes``) is not a use the rules can judge: it goes to the dead-letter
queue (``used_at_out_of_range``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from common.clock import Clock, utc_now
from common.dispatch import EventHandler, typed
from common.events import CloudEvent, InvalidEvent
from common.events.partner import PartnerServiceUsed
from common.faults import Faults
from common.idempotency import fingerprint
from common.partners import PARTNER_SOURCE_PREFIX
from stations.checkins import Checkins, Use
from stations.directory import Directory
from stations.domain import StationsError, derived_id, implausible_partner_time
from stations.settings import StationsSettings


class KioskHandlers:
    def __init__(
        self,
        checkins: Checkins,
        directory: Directory,
        faults: Faults,
        settings: StationsSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._checkins = checkins
        self._directory = directory
        self._faults = faults
        self._max_age = timedelta(days=settings.kiosk_use_max_age_days)
        self._max_future = timedelta(minutes=settings.partner_max_future_minutes)
        self._clock = clock

    async def _require_station_of(self, source: str, station_id: str) -> None:
        """A kiosk partner reports only for the stations that name it: another station's use
        would count (and earn points) on its word. An unknown station is the rules' refusal."""
        station = await self._directory.find_station(station_id)
        partner = source.removeprefix(PARTNER_SOURCE_PREFIX)
        if station is not None and partner not in station.kiosk_partners:
            raise InvalidEvent(
                "station_not_yours",
                f"station {station_id} does not name {partner} among its kiosk partners",
            )

    def handlers(self) -> dict[str, EventHandler]:
        return {"service.used.v1": typed(PartnerServiceUsed, self.on_service_used)}

    async def on_service_used(self, event: CloudEvent, data: PartnerServiceUsed) -> None:
        use = Use(
            checkin_id=derived_id("ci", "kiosk", event.source, event.id),
            driver_id=data.driver_id,
            station_id=data.station_id,
            service_code=data.service_code,
            used_at=data.used_at,
            channel="kiosk",
            kiosk_id=data.kiosk_id,
            fingerprint=fingerprint(event),
            cause=(event.source, event.id),
        )
        await self._require_station_of(event.source, data.station_id)
        known = await self._checkins.fingerprint_of(use.checkin_id)
        if known is not None and known != use.fingerprint:
            raise InvalidEvent(
                "conflicting_duplicate",
                f"({event.source}, {event.id}) was already received with a different payload",
            )
        if known is None:
            # Judged on first receipt only: a redelivery of a use recorded then (or a crash's
            # retry) finishes it however late it comes.
            self._require_plausible(data.used_at)
        self._faults.hit("stations.on_service_used.before_effect")
        try:
            await self._checkins.record_use(use)
        except StationsError as refusal:
            await self._checkins.record_refused(use, refusal)

    def _require_plausible(self, used_at: datetime) -> None:
        """A kiosk's ``used_at`` is taken as given by every rule after (window, travel, the
        driver's last use), so it must be one a kiosk's clock can mean: a use dated ahead would
        become the driver's last use (no later use judged as impossible travel) and its
        window's latest (every later use counting), a long-past one counts, takes a bed and
        earns again beside the uses it repeats."""
        wrong = implausible_partner_time(
            "used_at",
            used_at,
            self._clock(),
            max_future=self._max_future,
            max_age=self._max_age,
        )
        if wrong is not None:
            raise InvalidEvent("used_at_out_of_range", wrong)
