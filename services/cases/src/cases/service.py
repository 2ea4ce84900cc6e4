"""The cases service's use cases, one object per concern, composed over one :class:`CaseRecords`.

lookup.py (read one case, list them), intake.py (open a case, the driver's consent),
transitions.py with state_table.py (the state table), extensions.py (clocks and extensions),
compensation.py, collectives.py (collective complaints), breach_scan.py, dossiers.py (care
dossiers, brokers, what the registry tells us) and figures.py. records.py holds what they
share: the stores, the calendar and rules, events and the relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from cases.breach_scan import BreachScan
from cases.calendar import BusinessCalendar
from cases.collectives import Collectives
from cases.compensation import Compensations
from cases.dossiers import Dossiers
from cases.extensions import Extensions
from cases.figures import Figures
from cases.intake import CaseIntake
from cases.lookup import Lookup
from cases.records import CaseRecords
from cases.settings import CasesSettings
from cases.store.case_clocks import CaseClocks
from cases.store.cases import CaseStore
from cases.store.dossiers import DossierStore
from cases.store.rosters import RosterStore
from cases.transitions import Transitions
from common.clock import Clock, utc_now
from common.faults import Faults
from common.outbox import RelayRef, no_relay
from common.partner_links import PartnerLinkBook


@dataclass(frozen=True)
class Cases:
    records: CaseRecords
    lookup: Lookup
    intake: CaseIntake
    transitions: Transitions
    extensions: Extensions
    compensations: Compensations
    collectives: Collectives
    breach_scan: BreachScan
    dossiers: Dossiers
    figures: Figures

    @property
    def store(self) -> CaseStore:
        return self.records.store

    @classmethod
    def build(cls, records: CaseRecords, clocks: CaseClocks, rosters: RosterStore) -> Cases:
        return cls(
            records=records,
            lookup=Lookup(records),
            intake=CaseIntake(records),
            transitions=Transitions(records),
            extensions=Extensions(records),
            compensations=Compensations(records),
            collectives=Collectives(records),
            breach_scan=BreachScan(records, clocks),
            dossiers=Dossiers(records, rosters),
            figures=Figures(records),
        )


def build_cases(
    db: AsyncDatabase[dict[str, Any]],
    calendar: BusinessCalendar,
    settings: CasesSettings,
    *,
    relay: RelayRef = no_relay,
    faults: Faults | None = None,
    clock: Clock = utc_now,
) -> Cases:
    """The use cases over a database."""
    records = CaseRecords(
        CaseStore(db),
        DossierStore(db),
        calendar,
        settings,
        faults=faults or Faults(),
        clock=clock,
        relay=relay,
        partner_links=PartnerLinkBook(db),
    )
    return Cases.build(records, CaseClocks(db), RosterStore(db))
