"""The mutual-help board (issue 17; docs/mutual-help.md): a driver's need, posted publicly,
claimed by a driver, a station, a unit, a party member or a village; done or failed with the
driver's feedback; unclaimed by its deadline, a case for the handling unit.

The board shows a need's category, coarse area, time window and public summary. Contacts and
details are what the poster chose to share, encrypted (``common.pii``) and shown only to the
driver and the one helper once claimed: no service reads another's registry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cases.domain import CaseNotFound, InvalidRequest, NotPermitted, TransitionNotAllowed
from cases.intake import CaseIntake, Intake
from cases.records import EVENT_SOURCE, TOPIC, CaseRecords, aware
from cases.store.needs import NeedStore
from common.auth import Principal
from common.events import EventData, new_event
from common.events import mutual_help as ev
from common.logging import get_logger
from common.outbox import drop_outbox, outbox_entry, outbox_fields, publish_now
from common.pii import PiiProtector

log = get_logger(__name__)

Document = dict[str, Any]
CONTACT = "help-contact"
DETAILS = "help-details"
# The case category the committee's case gets, per need category.
CASE_CATEGORY = {
    "transport": "other",
    "vehicle": "road_safety",
    "family": "family_hardship",
    "health": "health",
    "schooling": "schooling",
    "rest": "parking_rest",
    "other": "other",
}
# Operators claim as one of these; drivers and stations claim as themselves.
OPERATOR_KINDS = ("unit", "party_member", "village")
# Opens the committee's case: an operator principal with the care actor (cases.access).
# A handover still without its case after this long was interrupted: another round retries it.
STALLED = timedelta(minutes=5)
COMMITTEE = Principal(sub="mutual-help-board", role="operator", scope="cases:care")


@dataclass(frozen=True)
class NeedPost:
    driver_id: str
    category: ev.HelpCategory
    area: str
    summary: str
    window_start: datetime
    window_end: datetime
    contact: str
    details: str = ""
    claim_by: datetime | None = None


@dataclass(frozen=True)
class Feedback:
    outcome: str  # done | failed
    rating: int | None = None
    comment: str = ""


def helper_of(principal: Principal, kind: str | None) -> Document:
    """Who claims: drivers, stations, and operators with help:claim in a named capacity."""
    if principal.role == "driver" and principal.driver_id:
        return {"kind": "driver", "id": principal.driver_id, "sub": principal.actor}
    if principal.role == "station" and principal.station_id:
        return {"kind": "station", "id": principal.station_id, "sub": principal.actor}
    if principal.role == "operator" and principal.has_scope("help:claim"):
        if kind not in OPERATOR_KINDS:
            raise InvalidRequest(f"helper_kind must be one of {', '.join(OPERATOR_KINDS)}")
        unit = principal.unit_id if kind == "unit" and principal.unit_id else principal.actor
        return {"kind": kind, "id": unit, "sub": principal.actor}
    raise NotPermitted("drivers, stations and operators with help:claim claim needs")


def is_poster(principal: Principal, doc: Document) -> bool:
    return principal.role == "driver" and principal.driver_id == doc["driver_id"]


def is_helper(principal: Principal, doc: Document) -> bool:
    helper = doc.get("helper")
    if not helper:
        return False
    if principal.role == "driver":
        return bool(helper["kind"] == "driver" and helper["id"] == principal.driver_id)
    if principal.role == "station":
        return bool(helper["kind"] == "station" and helper["id"] == principal.station_id)
    return bool(principal.role == "operator" and helper["sub"] == principal.actor)


def reporter(principal: Principal, doc: Document) -> Literal["driver", "helper", "staff"]:
    if is_poster(principal, doc):
        return "driver"
    return "helper" if is_helper(principal, doc) else "staff"


class MutualHelp:
    def __init__(self, records: CaseRecords, needs: NeedStore, intake: CaseIntake) -> None:
        self._records = records
        self._needs = needs
        self._intake = intake
        self._pii = PiiProtector.from_settings(records.settings)

    def _event(self, data: EventData, driver_id: str, event_id: str) -> Document:
        event = new_event(
            data, source=EVENT_SOURCE, subject=driver_id, event_id=event_id, time=self._now()
        )
        return outbox_entry(TOPIC, event)

    def _now(self) -> datetime:
        return aware(self._records.clock())

    async def _flush(self, need_id: str) -> None:
        await publish_now(self._records.relay, self._needs.collection, need_id)

    async def post(self, principal: Principal, need: NeedPost) -> Document:
        if not is_poster(principal, {"driver_id": need.driver_id}) and not (
            principal.role == "operator" and principal.has_scope("help:manage")
        ):
            raise NotPermitted("drivers post their own needs; staff need help:manage")
        await self._records.refuse_erased(need.driver_id)
        now = self._now()
        claim_by = need.claim_by or need.window_start
        if need.window_end <= need.window_start:
            raise InvalidRequest("window_end must be after window_start")
        if claim_by <= now or claim_by > need.window_end:
            raise InvalidRequest("claim_by must be in the future and no later than window_end")
        need_id = f"H{now:%Y%m%d}-{uuid.uuid4().hex[:10]}"
        data = ev.HelpPosted(
            need_id=need_id,
            driver_id=need.driver_id,
            category=need.category,
            area=need.area,
            window_start=need.window_start,
            window_end=need.window_end,
            claim_by=claim_by,
            posted_at=now,
        )
        doc: Document = {
            **data.model_dump(),
            "_id": need_id,
            "status": "open",
            "version": 1,
            "summary": need.summary,
            "posted_by": principal.actor,
            "contact": self._pii.encrypt(CONTACT, need.contact),
            "details": self._pii.encrypt(DETAILS, need.details) if need.details else None,
            "helper": None,
            "feedback": None,
            "case_id": None,
            **outbox_fields([self._event(data, need.driver_id, f"{need_id}:posted")]),
        }
        await self._needs.insert(doc)
        await self._flush(need_id)
        drop_outbox(doc)
        return doc

    async def get(self, principal: Principal, need_id: str) -> Document:
        doc = await self._needs.get(need_id)
        parties = doc is not None and (is_poster(principal, doc) or is_helper(principal, doc))
        staff = principal.role == "operator" and principal.has_scope("help:manage")
        if doc is None or not (doc["status"] == "open" or parties or staff):
            raise CaseNotFound("no such need")  # taken needs are the parties' business
        return doc

    def revealed(self, principal: Principal, doc: Document) -> Document:
        """The other party's contact (and the need's details for the helper), once claimed."""
        helper = doc.get("helper")
        if not helper or doc["status"] == "unclaimed":
            return {}
        if is_helper(principal, doc):
            # Purged a while after the need's window (cases.retention): nothing to reveal.
            if doc.get("contact") is None:
                return {}
            details = doc.get("details")
            return {
                "contact": self._pii.decrypt(CONTACT, doc["contact"]),
                "details": self._pii.decrypt(DETAILS, details) if details else "",
            }
        if is_poster(principal, doc) and helper.get("contact"):
            return {"helper_contact": self._pii.decrypt(CONTACT, helper["contact"])}
        return {}

    async def board(
        self, *, area: str | None, category: str | None, limit: int = 50
    ) -> list[Document]:
        return await self._needs.board(now=self._now(), area=area, category=category, limit=limit)

    async def mine(self, principal: Principal) -> list[Document]:
        """The needs this caller posted (drivers; staff for drivers) or claimed."""
        query: Document
        if principal.role == "driver":
            helped = {"helper.kind": "driver", "helper.id": principal.driver_id}
            query = {"$or": [{"driver_id": principal.driver_id}, helped]}
        elif principal.role == "station":
            query = {"helper.kind": "station", "helper.id": principal.station_id}
        else:
            claimed = {"helper.kind": {"$in": list(OPERATOR_KINDS)}, "helper.sub": principal.actor}
            query = {"$or": [claimed, {"posted_by": principal.actor}]}
        return await self._needs.mine(query)

    async def claim(
        self, principal: Principal, need_id: str, contact: str, kind: str | None
    ) -> Document:
        helper = helper_of(principal, kind)
        if helper["kind"] == "driver":
            await self._records.refuse_erased(helper["id"])
        current = await self.get(principal, need_id)
        if helper["kind"] == "driver" and helper["id"] == current["driver_id"]:
            raise InvalidRequest("a driver cannot claim their own need")
        now = self._now()
        data = ev.HelpClaimed(
            need_id=need_id,
            driver_id=current["driver_id"],
            category=current["category"],
            helper_kind=helper["kind"],
            helper_id=helper["id"],
            claimed_at=now,
        )
        helper |= {"contact": self._pii.encrypt(CONTACT, contact), "claimed_at": now}
        fields = {"status": "claimed", "helper": helper}
        event = self._event(data, current["driver_id"], f"{need_id}:claimed")
        moved = await self._needs.move(need_id, "open", fields, event, now=now)
        if moved is None:
            raise TransitionNotAllowed("this need was claimed already or is past its deadline")
        await self._flush(need_id)
        return moved

    async def close(self, principal: Principal, need_id: str, feedback: Feedback) -> Document:
        current = await self.get(principal, need_id)
        helper = current.get("helper") or {}
        staff = principal.role == "operator" and principal.has_scope("help:manage")
        by_driver = is_poster(principal, current) or staff
        if feedback.outcome == "done" and not by_driver:
            raise NotPermitted("the driver (or staff for them) confirms the help was done")
        if not (by_driver or is_helper(principal, current)):
            raise NotPermitted("only the driver and the helper close a need")
        now = self._now()
        common = {
            "need_id": need_id,
            "driver_id": current["driver_id"],
            "category": current["category"],
            "helper_kind": helper.get("kind", "driver"),
            "helper_id": helper.get("id", ""),
        }
        data: EventData
        if feedback.outcome == "done":
            data = ev.HelpCompleted(**common, rating=feedback.rating, completed_at=now)
        else:
            data = ev.HelpFailed(**common, reported_by=reporter(principal, current), failed_at=now)
        fields = {
            "status": feedback.outcome,
            "feedback": {
                "rating": feedback.rating,
                "comment": feedback.comment,
                "by": principal.actor,
                "at": now,
            },
        }
        event = self._event(data, current["driver_id"], f"{need_id}:{feedback.outcome}")
        moved = await self._needs.move(need_id, "claimed", fields, event, now=now)
        if moved is None:
            raise TransitionNotAllowed("only a claimed need is closed, and only once")
        await self._flush(need_id)
        return moved

    async def hand_over_unclaimed(self) -> int:
        """Open a case for every need nobody claimed in time (the periodic scan)."""
        now = self._now()
        count = 0
        for doc in await self._needs.overdue(now, now - STALLED):
            if doc["status"] == "open":
                won = await self._needs.hand_over(doc["_id"], now)
            else:  # a handover a crash left without its case
                won = await self._needs.retake(doc["_id"], doc["unclaimed_at"], now)
            if not won:
                continue  # claimed meanwhile, or another instance took it
            await self._open_case(doc, now)
            count += 1
        return count

    async def _open_case(self, doc: Document, now: datetime) -> None:
        intake = Intake(
            kind="help_request",
            category=CASE_CATEGORY[doc["category"]],
            channel="app",
            description=f"互助需求 {doc['_id']} 无人认领 / unclaimed mutual-help need: "
            f"{doc['summary']} ({doc['area']})",
            driver_id=doc["driver_id"],
        )
        opened = await self._intake.open_case(COMMITTEE, intake)
        data = ev.HelpUnclaimed(
            need_id=doc["_id"],
            driver_id=doc["driver_id"],
            category=doc["category"],
            case_id=opened.case.id,
            claim_by=doc["claim_by"],
            handed_over_at=now,
        )
        event = self._event(data, doc["driver_id"], f"{doc['_id']}:unclaimed")
        await self._needs.record_case(doc["_id"], opened.case.id, event)
        await self._flush(doc["_id"])
        log.info("unclaimed need handed to the committee", need_id=doc["_id"])
