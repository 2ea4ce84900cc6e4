"""Intake: who may open a case through which channel, its first clocks, duplicate candidates;
and the driver's consent to be named to the respondent, given at intake or later.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cases import domain
from cases.access import actors_of
from cases.case import Case
from cases.clock_replay import clock_years
from cases.domain import InvalidRequest, NotPermitted
from cases.records import CaseRecords, aware, require
from cases.store.dossiers import Listing, open_summary
from common.auth import Principal
from common.events import cases as ev
from common.outbox import drop_outbox, outbox_fields

Document = dict[str, Any]


@dataclass
class Intake:
    kind: str
    category: str
    channel: str
    description: str
    driver_id: str
    priority: str = "normal"
    emergency: bool = False
    attachments: list[Document] = field(default_factory=list)
    respondent: Document | None = None
    identity_consent: bool = False


@dataclass(frozen=True)
class Opened:
    case: Case
    duplicate_candidates: list[str]
    # The care broker the driver was named to when the case was filed (read in the same write).
    broker_id: str | None = None


def duplicate_candidates(
    open_cases: dict[str, Document], category: str, since: datetime, limit: int
) -> list[str]:
    """The open cases of one category opened since ``since``, newest first."""
    found = [
        (aware(summary["opened_at"]), case_id)
        for case_id, summary in open_cases.items()
        if summary.get("category") == category and aware(summary["opened_at"]) >= since
    ]
    found.sort(reverse=True)
    return [case_id for _, case_id in found[:limit]]


class CaseIntake:
    def __init__(self, records: CaseRecords) -> None:
        self._records = records

    async def open_case(self, principal: Principal, intake: Intake) -> Opened:
        records = self._records
        calendar = records.calendar
        now = records.clock()
        channel, station_id = self._channel(principal, intake)
        if intake.identity_consent and principal.role != "driver":
            # Being named to the party complained about is the driver's own decision, made
            # with their own token; whoever opens the case for them cannot make it.
            raise NotPermitted(
                "only the driver agrees to be named to the respondent "
                "(in the app: PUT /v1/cases/{case_id}/consent)"
            )
        await self._require_linked(principal, intake.driver_id)
        await records.refuse_erased(intake.driver_id)
        if intake.kind not in domain.KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(domain.KINDS)}")
        if intake.category not in domain.CATEGORIES:
            raise InvalidRequest("unknown category; see GET /v1/categories")
        self._check_attachments(intake.attachments)
        local = calendar.local(now)
        case_id = f"C{local:%Y%m%d}-{uuid.uuid4().hex[:10]}"
        # Listed before it is stored: a case whose insert then fails is a listed id that finds
        # nothing, while a stored case missing from its dossier would escape later lookups.
        # The listing is sent first and the case built while the store answers it.
        summary = open_summary(intake.category, now)
        filed = asyncio.ensure_future(
            records.dossiers.file_case(intake.driver_id, case_id, now, summary)
        )
        await asyncio.sleep(0)
        try:
            case = self._new_case(principal, intake, case_id, now, (channel, station_id))
        except BaseException:
            await asyncio.gather(filed, return_exceptions=True)
            raise
        listing = await filed
        if listing.open_cases is not None:
            open_cases = listing.open_cases
            await records.store.insert(case)
        else:
            # The candidates are earlier cases by id, so the insert need not wait for them.
            open_cases, _ = await asyncio.gather(
                self._open_before_listed(intake.driver_id, listing), records.store.insert(case)
            )
        since = now - timedelta(days=records.settings.duplicate_lookback_days)
        duplicates = duplicate_candidates(open_cases, intake.category, since, limit=10)
        await records.flush(case_id, inserted=case.doc)
        drop_outbox(case.doc)
        return Opened(case, duplicates, listing.broker_id)

    async def _open_before_listed(self, driver_id: str, listing: Listing) -> dict[str, Document]:
        """The open cases of a dossier from before it kept them, read once and then kept."""
        records = self._records
        earlier = listing.case_ids
        if earlier is None:
            earlier = await records.store.ids_of_driver(driver_id)
            await records.dossiers.list_cases(driver_id, earlier)
        open_cases = await records.store.open_among(earlier)
        await records.dossiers.list_open(driver_id, open_cases)
        return open_cases

    def _new_case(
        self,
        principal: Principal,
        intake: Intake,
        case_id: str,
        now: datetime,
        where: tuple[str, str | None],
    ) -> Case:
        """The new case as stored: first clocks, its opening event in the outbox."""
        records = self._records
        calendar = records.calendar
        channel, station_id = where
        clocks = domain.intake_clocks(calendar, records.policy, now, intake.kind, intake.emergency)
        local = calendar.local(now)
        doc: Document = {
            "_id": case_id,
            "version": 1,
            "status": "received",
            "kind": intake.kind,
            "category": intake.category,
            "channel": channel,
            "description": intake.description,
            "attachments": intake.attachments,
            "respondent": intake.respondent,
            "identity_consent": intake.identity_consent,
            "priority": "urgent" if intake.emergency else intake.priority,
            "emergency": intake.emergency,
            "driver_id": intake.driver_id,
            "station_id": station_id,
            "opened_by": principal.actor,
            "opened_at": now,
            "month": f"{local:%Y-%m}",
            "round": 1,
            "offered_unit_ids": [],
            "unit_ids": [],
            "unit_id": None,
            "lead_unit_id": None,
            "returns": 0,
            "needs_supervisor": False,
            "final_assignment": False,
            "clocks": clocks,
            # Which years' holidays the clocks were counted with (cases.calendars recounts).
            "clock_years": clock_years(calendar, clocks),
            "announced": [],
            "history": [{"action": "open", "to": "received", "by": principal.actor, "at": now}],
            "extensions": [],
            "revisits": [],
            "compensations": [],
            "compensations_applied": [],
            "absorbed": [],
            "collective_id": None,
        }
        case = Case.of(doc)
        event = records.event(
            ev.CaseOpened(
                case_id=case_id,
                driver_id=intake.driver_id,
                kind=intake.kind,
                category=intake.category,
                channel=channel,
                priority=doc["priority"],
                emergency=intake.emergency,
                station_id=station_id,
                opened_at=now,
                resolution_due=clocks["resolution"]["due"],
                resolution_due_provisional=clocks["resolution"]["provisional"],
            ),
            case,
            f"{case_id}:opened",
        )
        doc["calendar_keys"] = calendar.keys(doc["clock_years"])
        doc.update(outbox_fields(event))
        doc["next_check"] = domain.next_check(calendar, doc, now)
        return case

    def _channel(self, principal: Principal, intake: Intake) -> tuple[str, str | None]:
        if principal.role == "driver":
            if principal.driver_id != intake.driver_id:
                raise NotPermitted("drivers open cases for themselves")
            return "app", None
        if principal.role == "station":
            if principal.station_id is None:
                raise NotPermitted("a station token without station_id")
            return "station", principal.station_id
        if principal.role == "partner":
            if not principal.has_scope("cases:open"):
                raise NotPermitted("this partner may not open cases")
            return "partner", None
        if principal.role == "operator" and actors_of(principal) & {
            "dispatcher",
            "care",
            "supervisor",
        }:
            return intake.channel if intake.channel in ("hotline", "app") else "hotline", None
        raise NotPermitted("only drivers, stations, dispatchers and care brokers open cases")

    async def _require_linked(self, principal: Principal, driver_id: str) -> None:
        """A partner opens cases only for drivers the registry linked to it."""
        if principal.role != "partner":
            return
        links = self._records.partner_links
        if links is None or not await links.is_linked(principal.partner_id, driver_id):
            raise NotPermitted("this driver is not linked to this partner")

    def _check_attachments(self, attachments: list[Document]) -> None:
        settings = self._records.settings
        if len(attachments) > settings.attachments_max:
            raise InvalidRequest(f"at most {settings.attachments_max} attachments")
        for item in attachments:
            if item["content_type"] not in domain.ATTACHMENT_TYPES:
                raise InvalidRequest(
                    f"attachment type must be one of {', '.join(sorted(domain.ATTACHMENT_TYPES))}"
                )
            if item["size_bytes"] > settings.attachment_max_bytes:
                raise InvalidRequest(
                    f"an attachment may hold at most {settings.attachment_max_bytes} bytes"
                )

    async def set_consent(self, principal: Principal, case_id: str, reveal: bool) -> Case:
        case = await self._records.visible(principal, case_id)
        require(
            principal.role == "driver" and principal.driver_id == case.driver_id,
            "only the driver decides",
            NotPermitted,
        )
        await self._records.store.set_consent(case_id, reveal)
        return await self._records.reload(case_id)
