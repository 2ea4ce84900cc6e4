"""What every cases use case shares: the stores, the calendar and rules, events and the relay.

Each change of a case is one conditional update of its document (status and version in the
filter) carrying its event in the document's ``outbox``; the relay publishes it afterwards,
or its sweeper does when publishing fails. The use cases receive one :class:`CaseRecords`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cases.access import CaseAccess
from cases.calendar import BusinessCalendar
from cases.case import Case
from cases.clock_replay import clock_years
from cases.domain import (
    CaseError,
    CaseNotFound,
    ClockPolicy,
    InvalidRequest,
    TransitionNotAllowed,
)
from cases.settings import CasesSettings
from cases.store.cases import CaseStore
from cases.store.dossiers import DossierStore
from common.auth import Principal
from common.clock import Clock, utc_now
from common.erased_drivers import ErasedDrivers
from common.events import EventData, new_event
from common.faults import Faults
from common.logging import get_logger
from common.outbox import RelayRef, no_relay, outbox_entry, publish_now
from common.partner_links import PartnerLinkBook

log = get_logger(__name__)

Document = dict[str, Any]
TOPIC = "cases.events"
EVENT_SOURCE = "driverhome/cases"


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def require(ok: bool, message: str, error: type[CaseError] = InvalidRequest) -> None:
    if not ok:
        raise error(message)


def apply_fields(case: Case, fields: Document) -> Document:
    """The case as it will be after ``$set`` of dotted ``fields`` (for events and next_check)."""
    after: Document = {**case.doc, "clocks": {k: dict(v) for k, v in case.clocks.items() if v}}
    for path, value in fields.items():
        parts = path.split(".")
        target = after
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    after["clocks"] = {k: v for k, v in after["clocks"].items() if v}
    return after


@dataclass
class CaseRecords:
    store: CaseStore
    dossiers: DossierStore
    calendar: BusinessCalendar
    settings: CasesSettings
    policy: ClockPolicy = field(default_factory=ClockPolicy)
    faults: Faults = field(default_factory=Faults)
    clock: Clock = utc_now
    # Read when announcing: the runtime starts the relay after the use cases are wired.
    relay: RelayRef = no_relay
    # The registry's partner links, followed from registry.events; without them no partner
    # reaches any driver.
    partner_links: PartnerLinkBook | None = None
    # The drivers this service erased (set when the erasure is wired): nothing new about them.
    erased: ErasedDrivers | None = None
    access: CaseAccess = field(init=False)

    def __post_init__(self) -> None:
        self.access = CaseAccess(self.store, self.dossiers)

    async def refuse_erased(self, driver_id: str) -> None:
        await refuse_erased(self.erased, driver_id)

    async def visible(self, principal: Principal, case_id: str) -> Case:
        """The case if this caller may see it; 404 otherwise, exactly like a missing one."""
        return await self.access.visible(principal, case_id)

    def event(self, data: EventData, case: Case, event_id: str) -> Document:
        event = new_event(
            data,
            source=EVENT_SOURCE,
            subject=case.driver_id,
            event_id=event_id,
            time=self.clock(),
        )
        return outbox_entry(TOPIC, event)

    def clock_years_after(self, case: Case, after: Document) -> list[int]:
        """The years the clocks count days in, before or after the change (recounts find both)."""
        return sorted(set(case.clock_years) | set(clock_years(self.calendar, after["clocks"])))

    async def flush(self, case_id: str, *, inserted: Document | None = None) -> None:
        """Publish a case's pending events; ``inserted``: the case as this call just inserted
        it (published without reading it back)."""
        if self.relay() is None:  # nothing runs the outbox (the use cases' unit tests)
            return
        await publish_now(self.relay, self.store.collection, case_id, inserted=inserted)

    async def reload(self, case_id: str) -> Case:
        case = await self.store.get(case_id)
        if case is None:
            raise CaseNotFound("no such case")
        return case


async def refuse_erased(erased: ErasedDrivers | None, driver_id: str) -> None:
    """Refuse new records about a driver this service erased: a case, a need, an application
    or a visit made for them would keep their id and texts after the erasure confirmed none.
    The list is the one kept in memory (``common.erased_drivers``): no store command on these
    paths; another replica's erasure is seen within its refresh."""
    if erased is not None and await erased.contains(driver_id):
        raise TransitionNotAllowed("this driver's personal data was erased")
