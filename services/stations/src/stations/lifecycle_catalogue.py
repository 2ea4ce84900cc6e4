"""The life-cycle catalogue's use cases: the current version (seeded with Beilun's 2023 list on
first use), past versions, new versions by operators, and the coverage figures per stage.

Each new version is stored with ``lifecycle.catalogue_versioned.v1`` in its outbox, so the
version and its announcement are one write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.clock import Clock, utc_now
from common.events import new_event
from common.events.stations import LifecycleCatalogueVersioned, LifecycleItemFacts
from common.outbox import outbox_entry
from stations.lifecycle import (
    SEED_LABEL,
    CatalogueConflict,
    CatalogueContent,
    CatalogueVersion,
    CatalogueVersionNotFound,
    changed_item,
    seed_content,
    successor,
)
from stations.records import EVENT_SOURCE, TOPIC, Announcer
from stations.store.checkins import CheckinStore
from stations.store.lifecycle import VERSIONS, LifecycleStore

SUBJECT = "lifecycle"
SEEDED_BY = "seed"


@dataclass(frozen=True)
class Change:
    """Who makes a new version, on top of which one (None: whatever is current)."""

    by: str
    based_on: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class ItemCoverage:
    code: str
    measured: bool
    drivers_served: int
    uses: int


@dataclass(frozen=True)
class StageCoverage:
    code: str
    drivers_served: int
    items: list[ItemCoverage]


class LifecycleCatalogue:
    def __init__(
        self,
        store: LifecycleStore,
        checkins: CheckinStore,
        *,
        announcer: Announcer,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._checkins = checkins
        self._announcer = announcer
        self.now = clock

    async def current(self) -> CatalogueVersion:
        latest = await self._store.latest()
        if latest is not None:
            return latest
        # First use: Beilun's list is version 1. Replicas racing here insert the same number,
        # one wins, and every one reads the winner.
        await self._insert(None, seed_content(), Change(by=SEEDED_BY, note=SEED_LABEL))
        seeded = await self._store.latest()
        assert seeded is not None  # inserted just now by this or another replica
        return seeded

    async def version(self, number: int) -> CatalogueVersion:
        found = await self._store.get(number)
        if found is None:
            raise CatalogueVersionNotFound(f"no catalogue version {number}")
        return found

    async def versions(self, limit: int) -> list[dict[str, Any]]:
        await self.current()
        return await self._store.summaries(limit)

    async def replace(self, content: CatalogueContent, change: Change) -> CatalogueVersion:
        return await self._insert(await self._base(change), content, change)

    async def change_item(
        self, code: str, changes: dict[str, Any], change: Change
    ) -> CatalogueVersion:
        base = await self._base(change)
        return await self._insert(base, changed_item(base.content, code, changes), change)

    async def _base(self, change: Change) -> CatalogueVersion:
        base = await self.current()
        if change.based_on is not None and change.based_on != base.version:
            raise CatalogueConflict(
                f"the catalogue is at version {base.version}, not {change.based_on}"
            )
        return base

    async def _insert(
        self, base: CatalogueVersion | None, content: CatalogueContent, change: Change
    ) -> CatalogueVersion:
        changed = successor(base.content if base else None, content)
        version = CatalogueVersion(
            version=base.version + 1 if base else 1,
            label=base.label if base else SEED_LABEL,
            note=change.note,
            created_at=self.now(),
            created_by=change.by,
            content=content,
        )
        event = new_event(
            _announcement(version, base, changed),
            source=EVENT_SOURCE,
            subject=SUBJECT,
            event_id=f"lifecycle-v{version.version}",
        )
        if not await self._store.insert(version, [outbox_entry(TOPIC, event)]):
            raise CatalogueConflict(f"version {version.version} was made by another change")
        await self._announcer.announce(self._store.collection, version.version)
        return version

    async def coverage(self, month: str) -> tuple[CatalogueVersion, list[StageCoverage]]:
        """Distinct drivers served per item and stage in a month, from counted check-ins of
        the service codes that deliver each item; items no service code delivers are not
        measured here."""
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        end = (start + timedelta(days=32)).replace(day=1)
        uses = await self._checkins.counted_uses(start, end)
        catalogue = await self.current()
        stages = []
        for stage in catalogue.content.stages:
            items, stage_drivers = [], set()
            for item in stage.items:
                codes = set(item.service_codes)
                drivers = {d for d, code in uses if code in codes}
                stage_drivers |= drivers
                count = sum(1 for _, code in uses if code in codes)
                items.append(ItemCoverage(item.code, bool(codes), len(drivers), count))
            stages.append(StageCoverage(stage.code, len(stage_drivers), items))
        return catalogue, stages


def _announcement(
    version: CatalogueVersion, base: CatalogueVersion | None, changed: list[str]
) -> LifecycleCatalogueVersioned:
    return LifecycleCatalogueVersioned(
        version=version.version,
        previous_version=base.version if base else None,
        label=version.label,
        changed_items=changed,
        items=[
            LifecycleItemFacts(stage=stage.code, **item.model_dump(exclude={"source"}))
            for stage in version.content.stages
            for item in stage.items
        ],
        versioned_at=version.created_at,
    )


__all__ = ["VERSIONS", "Change", "LifecycleCatalogue"]
