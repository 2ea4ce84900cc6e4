"""Handlers for partner kiosks' ``service.used.v1``: parse, one use-case call, nothing else.

The check-in's id is derived from the event's ``(source, id)``, so a redelivered event finds the
check-in it already made. A use the rules refuse (unknown driver, closed station, full) is
kept as a ``refused`` check-in that operators can list: never silently dropped, never announced.
"""

from __future__ import annotations

from common.dispatch import EventHandler, typed
from common.events import CloudEvent, InvalidEvent
from common.events.partner import PartnerServiceUsed
from common.faults import Faults
from common.idempotency import fingerprint
from common.partners import PARTNER_SOURCE_PREFIX
from stations.checkins import Checkins, Use
from stations.directory import Directory
from stations.domain import StationsError, derived_id


class KioskHandlers:
    def __init__(self, checkins: Checkins, directory: Directory, faults: Faults) -> None:
        self._checkins = checkins
        self._directory = directory
        self._faults = faults

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
        self._faults.hit("stations.on_service_used.before_effect")
        try:
            await self._checkins.record_use(use)
        except StationsError as refusal:
            await self._checkins.record_refused(use, refusal)
