"""Festival campaigns (issue 17; docs/cases.md "Festival campaigns"): 春送岗位, 夏送清凉,
秋送助学 and 冬送温暖 as a batch of gifts or aid to a segment of drivers, each collected at a
station, which confirms the delivery.

The segment is fixed at launch: named drivers, or the drivers of a grid, an organisation or a
route grid that cases follows from the registry (``cases.store.units``). Each driver gets one
delivery with its own event, so notify tells each where and by when to collect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cases.domain import CaseNotFound, InvalidRequest, NotPermitted, TransitionNotAllowed
from cases.records import EVENT_SOURCE, TOPIC, aware
from cases.store.aid_campaigns import CampaignStore
from cases.store.units import DistrictUnits
from common.auth import Principal
from common.clock import Clock
from common.erased_drivers import ErasedDrivers
from common.events import EventData, new_event
from common.events import aid_campaigns as ev
from common.outbox import RelayRef, outbox_entry, outbox_fields, publish_now

Record = dict[str, Any]
MAX_RECIPIENTS = 5000


@dataclass(frozen=True)
class Campaign:
    season: ev.Season
    title: str
    gift: str
    station_id: str
    collect_by: datetime
    amount_yuan: int | None = None
    driver_ids: list[str] = field(default_factory=list)
    unit: str | None = None
    unit_id: str | None = None


class Campaigns:
    def __init__(
        self, store: CampaignStore, units: DistrictUnits, *, clock: Clock, relay: RelayRef
    ) -> None:
        self._store = store
        self._units = units
        self._clock = clock
        self._relay = relay
        # The drivers this service erased (set when the erasure is wired).
        self.erased: ErasedDrivers | None = None

    def _event(self, data: EventData, driver_id: str, event_id: str) -> Record:
        now = aware(self._clock())
        event = new_event(data, source=EVENT_SOURCE, subject=driver_id, event_id=event_id, time=now)
        return outbox_entry(TOPIC, event)

    async def _segment(self, campaign: Campaign) -> list[str]:
        if campaign.unit and campaign.unit_id:
            found = await self._units.drivers_in(campaign.unit, campaign.unit_id, subtree=True)
        else:
            found = list(campaign.driver_ids)
        drivers = sorted(set(found))
        if self.erased is not None:
            # Named in the request or still listed in a unit: nothing is made about them.
            gone = await self.erased.among(drivers)
            drivers = [d for d in drivers if d not in gone]
        if not drivers or len(drivers) > MAX_RECIPIENTS:
            raise InvalidRequest(f"a campaign reaches 1 to {MAX_RECIPIENTS} drivers")
        return drivers

    async def launch(self, principal: Principal, campaign: Campaign) -> Record:
        now = aware(self._clock())
        if campaign.collect_by <= now:
            raise InvalidRequest("collect_by must be in the future")
        drivers = await self._segment(campaign)
        campaign_id = f"C{now:%Y%m%d}-{uuid.uuid4().hex[:8]}"
        doc: Record = {
            "_id": campaign_id,
            **{k: v for k, v in campaign.__dict__.items() if k != "driver_ids"},
            "launched_by": principal.actor,
            "launched_at": now,
            "recipients": len(drivers),
        }
        deliveries = [self._delivery(campaign_id, campaign, driver, now) for driver in drivers]
        await self._store.insert(doc, deliveries)
        for delivery in deliveries:
            await publish_now(self._relay, self._store.deliveries, delivery["_id"])
        return doc

    def _delivery(self, campaign_id: str, campaign: Campaign, driver: str, now: datetime) -> Record:
        data = ev.GiftAllotted(
            campaign_id=campaign_id,
            driver_id=driver,
            season=campaign.season,
            gift=campaign.gift,
            station_id=campaign.station_id,
            collect_by=campaign.collect_by,
            allotted_at=now,
        )
        return {
            **data.model_dump(),
            "_id": uuid.uuid4().hex,
            "status": "allotted",
            **outbox_fields([self._event(data, driver, f"{campaign_id}:{driver}:allotted")]),
        }

    async def get(self, campaign_id: str) -> tuple[Record, list[Record]]:
        campaign = await self._store.get(campaign_id)
        if campaign is None:
            raise CaseNotFound("no such campaign")
        return campaign, await self._store.deliveries_of(campaign_id)

    async def mine(self, principal: Principal) -> list[Record]:
        if principal.role != "driver" or not principal.driver_id:
            raise NotPermitted("drivers read their own campaign gifts")
        return await self._store.mine(principal.driver_id)

    async def confirm(self, principal: Principal, campaign_id: str, driver_id: str) -> Record:
        """The campaign's station (or care staff) confirms it handed the gift over, once."""
        campaign = await self._store.get(campaign_id)
        if campaign is None:
            raise CaseNotFound("no such campaign")
        at_station = principal.role == "station" and principal.station_id == campaign["station_id"]
        staff = principal.role == "operator" and principal.has_scope("aid:review")
        if not (at_station or staff):
            raise NotPermitted("the campaign's station confirms its deliveries")
        now = aware(self._clock())
        data = ev.GiftDelivered(
            campaign_id=campaign_id,
            driver_id=driver_id,
            station_id=campaign["station_id"],
            delivered_at=now,
        )
        fields = {"status": "delivered", "delivered_at": now, "confirmed_by": principal.actor}
        event = self._event(data, driver_id, f"{campaign_id}:{driver_id}:delivered")
        moved = await self._store.deliver(campaign_id, driver_id, fields, event)
        if moved is None:
            raise TransitionNotAllowed("not allotted to this driver, or delivered already")
        await publish_now(self._relay, self._store.deliveries, moved["_id"])
        return moved
