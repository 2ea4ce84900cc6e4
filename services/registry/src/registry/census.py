"""The quarterly census: one campaign per quarter, its progress per grid, verifications."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.events.registry import DriverVerified
from registry.domain import Conflict, Driver, DriverNotFound, NotFound, Verification
from registry.lifecycle import Lifecycle
from registry.oversight import Campaign, current_quarter, quarter_start
from registry.records import Actor, DriverRecords
from registry.store.campaigns import CampaignStore
from registry.store.drivers import DriverFilter
from registry.units import Units

MAX_VERIFICATIONS_KEPT = 20


@dataclass(frozen=True)
class GridProgress:
    grid_id: str | None
    drivers: int
    verified: int
    pending: int


class Census:
    def __init__(
        self,
        records: DriverRecords,
        campaigns: CampaignStore,
        *,
        lifecycle: Lifecycle,
        units: Units,
    ) -> None:
        self._records = records
        self._campaigns = campaigns
        self._lifecycle = lifecycle
        self._units = units

    async def start_campaign(
        self, quarter: str | None, grid_ids: list[str], actor: Actor
    ) -> tuple[Campaign, bool]:
        """One campaign per quarter: starting it again answers the one that runs."""
        now = self._records.now()
        quarter = quarter or current_quarter(now)
        since = quarter_start(quarter)
        campaign_id = f"census-{quarter}"
        existing = await self._campaigns.get(campaign_id)
        if existing is not None:
            return existing, False
        for grid_id in grid_ids:
            await self._units.get_grid(grid_id)
        campaign = Campaign(
            campaign_id=campaign_id,
            quarter=quarter,
            verified_since=since,
            grid_ids=grid_ids,
            started_by=actor.sub,
            started_at=now,
        )
        try:
            await self._campaigns.insert(campaign)
        except Exception:
            raced = await self._campaigns.get(campaign_id)
            if raced is None:
                raise
            return raced, False
        return campaign, True

    async def get_campaign(self, campaign_id: str) -> Campaign:
        campaign = await self._campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound("campaign")
        return campaign

    async def campaigns(self, *, after: str | None, limit: int) -> list[Campaign]:
        return await self._campaigns.page(after=after, limit=limit)

    async def campaign_progress(self, campaign_id: str) -> list[GridProgress]:
        campaign = await self.get_campaign(campaign_id)
        drivers = self._records.drivers
        scope = DriverFilter(status="active", grid_ids=campaign.grid_ids or None)
        totals = await drivers.count_by_grid(scope)
        pending = await drivers.count_by_grid(
            DriverFilter(
                status="active",
                grid_ids=campaign.grid_ids or None,
                not_verified_since=campaign.verified_since,
            )
        )
        return [
            GridProgress(
                grid_id=grid_id,
                drivers=total,
                verified=total - pending.get(grid_id, 0),
                pending=pending.get(grid_id, 0),
            )
            for grid_id, total in sorted(totals.items(), key=lambda kv: kv[0] or "")
        ]

    async def _grids_within(self, grid_ids: list[str], station_id: str | None) -> list[str] | None:
        """The grids a census call may reach: ``grid_ids`` (empty: all), and for a station only
        its census assignment (issue 14). None means every grid."""
        if station_id is None:
            return grid_ids or None
        assigned = await self._units.grids_of_station(station_id)
        return [g for g in assigned if not grid_ids or g in grid_ids]

    async def campaign_pending(
        self,
        campaign_id: str,
        grid_id: str | None,
        *,
        after: str | None,
        limit: int,
        station_id: str | None = None,
    ) -> list[Driver]:
        """Active drivers (of a grid) not verified since the campaign's quarter began.

        ``station_id``: a station's staff, who see only the grids of their census assignment.
        """
        campaign = await self.get_campaign(campaign_id)
        grids = await self._grids_within(campaign.grid_ids, station_id)
        if grids == [] or (grid_id and grids is not None and grid_id not in grids):
            return []
        where = DriverFilter(
            status="active",
            grid_id=grid_id,
            grid_ids=grids,
            not_verified_since=campaign.verified_since,
        )
        return await self._records.drivers.search(where, after=after, limit=limit)

    async def verify(
        self,
        driver_id: str,
        campaign_id: str | None,
        given: dict[str, Any],
        actor: Actor,
        *,
        station_id: str | None = None,
    ) -> Driver:
        """Record a census verification: who, when and which fields it corrected.

        A station's staff verify only drivers of their census assignment; anyone else's answers
        like a missing driver, so the register cannot be probed through the census.
        """
        if campaign_id is not None:
            await self.get_campaign(campaign_id)
        driver = await self._records.get_driver(driver_id)
        if station_id is not None:
            assigned = await self._grids_within([], station_id)
            if driver.grid_id is None or driver.grid_id not in (assigned or []):
                raise DriverNotFound(driver_id)
        driver.require_not_erased()
        if driver.status == "deactivated":
            raise Conflict("a deactivated driver is not verified", code="deactivated")
        changes = await self._lifecycle.changes(driver, given)
        now = self._records.now()
        verification = Verification(
            verified_at=now,
            verified_by=actor.sub,
            campaign_id=campaign_id,
            changed_fields=list(changes.names),
        )
        changes.set_.update(
            {"updated_at": now, "last_verified_at": now, "last_verified_by": actor.sub}
        )
        event = DriverVerified(
            driver_id=driver_id,
            verified_at=now,
            verified_by=actor.sub,
            changed_fields=list(changes.names),
        )
        written = await self._records.write(
            driver_id,
            changes,
            event,
            push={
                "verifications": {
                    "$each": [verification.model_dump(exclude_none=True)],
                    "$slice": -MAX_VERIFICATIONS_KEPT,
                }
            },
            # The checks above (not deactivated, in this station's grids) hold for this version.
            at_version=driver.updated_at,
        )
        if not written:
            raise Conflict(
                "the driver changed while being verified; read them and verify again",
                code="changed-meanwhile",
            )
        return await self._records.get_driver(driver_id)
