"""The breach scan: announce due deadline warnings and escalations, each once, and grant the
points for our own missed deadlines. Idempotent, so every instance may run it at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cases import domain
from cases.case import Case
from cases.metrics import CASE_WORK_FAILURES
from cases.records import CaseRecords, apply_fields
from cases.store.case_clocks import CaseClocks
from common.events import EventData
from common.events import cases as ev
from common.logging import describe_error, get_logger

log = get_logger(__name__)

Document = dict[str, Any]
# Missing these deadlines earns the driver points (once per clock and round).
COMPENSATED_CLOCKS = ("first_response", "resolution")


class BreachScan:
    def __init__(self, records: CaseRecords, clocks: CaseClocks) -> None:
        self._records = records
        self._clocks = clocks

    async def scan(self, limit: int = 500) -> int:
        """Announce due warnings and escalations, each once; safe in every instance at once."""
        records = self._records
        now = records.clock()
        announced = 0
        for case in await self._clocks.due_for_scan(now, limit):
            try:
                announced += await self._announce(case, now)
            except Exception as exc:
                # One case that cannot be handled must not keep the others' warnings back.
                CASE_WORK_FAILURES.labels(records.settings.service_name, "breach_scan").inc()
                log.warning(
                    "breach scan skipped a case", case_id=case.id, error=describe_error(exc)
                )
                await self._look_again_later(case, now)
        return announced

    async def _look_again_later(self, case: Case, now: datetime) -> None:
        # Otherwise it stays first in line and, with enough of them, starves the round.
        try:
            await self._clocks.set_next_check(case.id, case.version, now + timedelta(minutes=15))
        except Exception as exc:
            log.warning("could not defer a skipped case", error=describe_error(exc))

    async def _announce(self, case: Case, now: datetime) -> int:
        records = self._records
        calendar = records.calendar
        found, _ = domain.announcements_due(calendar, case.doc, now)
        if not found:
            await self._clocks.set_next_check(
                case.id, case.version, domain.next_check(calendar, case.doc, now)
            )
            return 0
        outbox: list[Document] = []
        set_fields: Document = {}
        for item in found:
            notice = self._notice(case, item, now)
            outbox.append(records.event(notice, case, f"{case.id}:{item.key}"))
            if item.level > 0:
                set_fields[f"clocks.{item.clock}.breached"] = True
            if item.level == 1 and item.clock in COMPENSATED_CLOCKS:
                outbox.append(self._compensation(case, item.clock, now))
        keys = [item.key for item in found]
        after = apply_fields(case, set_fields)
        after["announced"] = [*case.announced, *keys]
        set_fields["next_check"] = domain.next_check(calendar, after, now)
        if not await self._clocks.announce(
            case.id,
            version=case.version,
            checked=case.doc["next_check"],
            keys=keys,
            set_fields=set_fields,
            outbox=outbox,
        ):
            return 0  # another instance announced it, or the case moved on: the next scan sees
        records.faults.hit("cases.scan.before_flush")
        await records.flush(case.id)
        return len(found)

    def _notice(self, case: Case, item: domain.Announcement, now: datetime) -> EventData:
        """A warning (level 0) or an escalation (level 1 at the deadline, then further)."""
        offered = case.offered_unit_ids
        unit = case.unit_id or (offered[0] if offered else None)
        provisional = bool(case.clocks[item.clock].get("provisional"))
        if item.level == 0:
            return ev.CaseDeadlineWarning(
                case_id=case.id,
                driver_id=case.driver_id,
                clock=item.clock,
                round=case.round,
                unit_id=unit,
                due=item.due,
                due_provisional=provisional,
                warned_at=now,
            )
        return ev.CaseBreached(
            case_id=case.id,
            driver_id=case.driver_id,
            clock=item.clock,
            round=case.round,
            level=item.level,
            unit_id=unit,
            lead_unit_id=case.lead_unit_id,
            due=item.due,
            due_provisional=provisional,
            breached_at=now,
        )

    def _compensation(self, case: Case, clock: str, now: datetime) -> Document:
        comp_id = f"{case.id}:missed:{clock}:r{case.round}"
        return self._records.event(
            ev.CaseCompensationGranted(
                compensation_id=comp_id,
                case_id=case.id,
                driver_id=case.driver_id,
                kind="missed_deadline",
                amount=self._records.settings.missed_deadline_points,
                clock=clock,
                granted_at=now,
            ),
            case,
            comp_id,
        )
