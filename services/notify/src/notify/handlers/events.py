"""Handlers for the domain topics: parse, one use-case call, nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common.dispatch import EventHandler, on, typed
from common.events import CloudEvent, EventData
from common.events.honours import HonourRoundAnnounced
from common.events.points import GradeChanged
from common.events.registry import (
    DriverDeactivated,
    DriverRegistered,
    DriverUpdated,
    GridPlaced,
    OrganisationPlaced,
)
from common.events.stations import DrivingReported
from common.idempotency import ProcessedEvents
from notify.delivery import Delivery, Notice
from notify.driver_facts import DriverFactsBook
from notify.driving import DrivingState
from notify.honours import HonourAnnouncements

Facts = dict[str, dict[str, Any]]


def notice_of(
    event: CloudEvent,
    data: EventData,
    facts: Facts | None = None,
    facts_at: datetime | None = None,
) -> Notice:
    return Notice(
        source=event.source,
        event_id=event.id,
        event_type=event.type,
        driver_id=event.subject,
        data=data,
        facts=facts or {},
        facts_at=facts_at,
    )


class DomainHandlers:
    def __init__(
        self,
        facts: DriverFactsBook,
        delivery: Delivery,
        processed: ProcessedEvents,
        driving: DrivingState,
        honours: HonourAnnouncements,
    ) -> None:
        self._facts = facts
        self._delivery = delivery
        self._processed = processed
        self._driving = driving
        self._honours = honours

    def special(self) -> dict[str, EventHandler]:
        """The types notify reads facts from (the rest only notify, or are skipped)."""
        return {
            "driver.registered.v1": typed(DriverRegistered, self.on_driver_registered),
            "driver.deactivated.v1": on(DriverDeactivated, self.on_driver_deactivated),
            "driver.updated.v1": on(DriverUpdated, self.on_driver_updated),
            "points.grade_changed.v1": typed(GradeChanged, self.on_grade_changed),
            "organisation.placed.v1": on(OrganisationPlaced, self.on_organisation_placed),
            "grid.placed.v1": on(GridPlaced, self.on_grid_placed),
            "driving.reported.v1": on(DrivingReported, self.on_driving_reported),
            "honour.round_announced.v1": on(HonourRoundAnnounced, self.on_round_announced),
        }

    async def on_round_announced(self, data: HonourRoundAnnounced) -> None:
        # Idempotent: each broadcast's id derives from the round and its segment.
        await self._honours.on_round_announced(data)

    async def on_driving_reported(self, data: DrivingReported) -> None:
        # Idempotent: a report older than the known one changes nothing.
        await self._driving.on_report(data)

    async def on_driver_registered(self, event: CloudEvent, data: DriverRegistered) -> None:
        facts: Facts = {
            "fleet": {"fleet": data.fleet},
            "grid": {"grid": data.grid_id},
            "kind": {"driver_kind": data.kind},
        }
        if data.language:
            facts["language"] = {"language": data.language}
        await self._notify(event, notice_of(event, data, facts, data.registered_at))

    async def on_driver_deactivated(self, data: DriverDeactivated) -> None:
        await self._facts.note_deactivation(data.driver_id, data.erased, data.deactivated_at)

    async def on_driver_updated(self, data: DriverUpdated) -> None:
        facts: Facts = {}
        if "status" in data.changed_fields:  # the registry's reactivation
            await self._facts.note_reactivation(data.driver_id, data.updated_at)
        if "fleet" in data.changed_fields:
            facts["fleet"] = {"fleet": data.fleet}
        if "grid_id" in data.changed_fields:
            facts["grid"] = {"grid": data.grid_id}
        if "kind" in data.changed_fields and data.kind:
            facts["kind"] = {"driver_kind": data.kind}
        if "memberships" in data.changed_fields and data.organisation_ids is not None:
            # No membership left is stored as no field, which readers take for none.
            facts["organisations"] = {"organisations": data.organisation_ids or None}
        if "route_grid_ids" in data.changed_fields:
            facts["route_grids"] = {"route_grids": data.route_grid_ids or None}
        await self._facts.note(data.driver_id, facts, data.updated_at)

    async def on_organisation_placed(self, data: OrganisationPlaced) -> None:
        await self._facts.units.place(
            "organisation", data.organisation_id, data.ancestor_ids, data.placed_at
        )

    async def on_grid_placed(self, data: GridPlaced) -> None:
        await self._facts.units.place("grid", data.grid_id, data.ancestor_ids, data.placed_at)

    async def on_grade_changed(self, event: CloudEvent, data: GradeChanged) -> None:
        facts: Facts = {"grade": {"grade": data.new_grade}}
        await self._notify(event, notice_of(event, data, facts, data.changed_at))

    async def on_notifying_event(self, event: CloudEvent, data: EventData) -> None:
        await self._notify(event, notice_of(event, data))

    async def _notify(self, event: CloudEvent, notice: Notice) -> None:
        # The effects are idempotent on their own (deterministic ids); the marker only refuses
        # a conflicting duplicate and skips the work on a plain one.
        if await self._processed.seen(event):
            return
        await self._delivery.notify_about(notice)
        await self._processed.mark_done(event)
