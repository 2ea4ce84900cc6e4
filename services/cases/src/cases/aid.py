"""Aid applications (issue 17; docs/cases.md "Aid applications"): Xuecheng's living, study and
serious-illness aid and elderly care.

A driver applies (or staff with ``aid:review`` for them) with household facts and documents as
attachment metadata; the kind's eligibility rules (``cases.aid_kinds``) are checked then,
against the credit grade points last announced. Two different people review: the first
approves with a proposed amount (or rejects), the second - never the first - grants an amount
(or rejects); staff who applied for the driver review neither. Money is paid outside the
system; the grant records how much. Each step announces an event on ``cases.events`` that
carries ids, the kind and amounts only.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cases.aid_kinds import STARTING_GRADE, AidKind, Document, Household, check
from cases.domain import CaseNotFound, InvalidRequest, NotPermitted, TransitionNotAllowed
from cases.records import EVENT_SOURCE, TOPIC, aware, refuse_erased
from cases.store.aid import AidStore
from common.auth import Principal
from common.clock import Clock
from common.erased_drivers import ErasedDrivers
from common.events import EventData, new_event
from common.events import aid as ev
from common.outbox import RelayRef, drop_outbox, outbox_entry, outbox_fields, publish_now

Record = dict[str, Any]
REVIEW = "aid:review"


@dataclass(frozen=True)
class Application:
    driver_id: str
    kind: str
    household: Household
    documents: list[Document]
    statement: str = ""


@dataclass(frozen=True)
class Decision:
    approve: bool
    amount_yuan: int | None = None
    note: str = ""


def is_staff(principal: Principal) -> bool:
    return principal.role == "operator" and principal.has_scope(REVIEW)


def is_applicant(principal: Principal, driver_id: str) -> bool:
    return principal.role == "driver" and principal.driver_id == driver_id


class AidDesk:
    def __init__(
        self, store: AidStore, kinds: dict[str, AidKind], *, clock: Clock, relay: RelayRef
    ) -> None:
        self._store = store
        self.kinds = kinds
        self._clock = clock
        self._relay = relay
        # The drivers this service erased (set when the erasure is wired).
        self.erased: ErasedDrivers | None = None

    def _now(self) -> datetime:
        return aware(self._clock())

    def _event(self, data: EventData, driver_id: str, event_id: str) -> Record:
        event = new_event(
            data, source=EVENT_SOURCE, subject=driver_id, event_id=event_id, time=self._now()
        )
        return outbox_entry(TOPIC, event)

    async def _flush(self, application_id: str) -> None:
        await publish_now(self._relay, self._store.collection, application_id)

    def _kind(self, name: str) -> AidKind:
        if name not in self.kinds:
            raise InvalidRequest(f"unknown aid kind {name!r}; kinds: {', '.join(self.kinds)}")
        return self.kinds[name]

    async def apply(self, principal: Principal, application: Application) -> Record:
        on_behalf = not is_applicant(principal, application.driver_id)
        if on_behalf and not is_staff(principal):
            raise NotPermitted("drivers apply for themselves; staff need aid:review")
        kind = self._kind(application.kind)
        await refuse_erased(self.erased, application.driver_id)
        grade = await self._store.grade_of(application.driver_id) or STARTING_GRADE
        verdict = check(kind, grade, application.household, application.documents)
        if not verdict.eligible:
            raise InvalidRequest("not eligible: " + "; ".join(verdict.reasons))
        if await self._store.open_of(application.driver_id, kind.kind):
            raise TransitionNotAllowed(f"an application for {kind.kind} is already under review")
        now = self._now()
        application_id = f"A{now:%Y%m%d}-{uuid.uuid4().hex[:10]}"
        data = ev.AidApplied(
            application_id=application_id,
            driver_id=application.driver_id,
            kind=kind.kind,
            on_behalf=on_behalf,
            applied_at=now,
        )
        doc: Record = {
            **data.model_dump(),
            "_id": application_id,
            "status": "submitted",
            "version": 1,
            "applied_by": principal.actor,
            "grade": grade,
            "household": asdict(application.household),
            "documents": [asdict(d) for d in application.documents],
            "statement": application.statement,
            "reviews": [],
            "amount_yuan": None,
            **outbox_fields(
                [self._event(data, application.driver_id, f"{application_id}:applied")]
            ),
        }
        if not await self._store.insert(doc):
            raise TransitionNotAllowed(f"an application for {kind.kind} is already under review")
        await self._flush(application_id)
        drop_outbox(doc)
        return doc

    async def get(self, principal: Principal, application_id: str) -> Record:
        doc = await self._store.get(application_id)
        if doc is None or not (is_staff(principal) or is_applicant(principal, doc["driver_id"])):
            raise CaseNotFound("no such application")  # nobody learns others' applications
        return doc

    async def history(self, principal: Principal, driver_id: str) -> list[Record]:
        if not (is_staff(principal) or is_applicant(principal, driver_id)):
            raise NotPermitted("a driver's aid history is theirs and the reviewers'")
        return await self._store.history(driver_id)

    async def queue(self, status: str | None, kind: str | None) -> list[Record]:
        return await self._store.queue(status, kind)

    async def review(self, principal: Principal, application_id: str, decision: Decision) -> Record:
        """The first review, or the second by another person: the stage follows the status."""
        current = await self.get(principal, application_id)
        if not is_staff(principal):
            raise NotPermitted("reviews need aid:review")
        status = current["status"]
        if status not in ("submitted", "first_approved"):
            raise TransitionNotAllowed(f"the application is {status} already")
        second = status == "first_approved"
        if current.get("applied_by") == principal.actor:
            # Staff who applied for the driver put the facts forward: reviewing them too would
            # leave one of the two reviews to the maker (four eyes).
            raise NotPermitted("whoever applied for the driver does not review the application")
        if second and any(r["by"] == principal.actor for r in current["reviews"]):
            raise NotPermitted("the second review is another person's (four eyes)")
        amount = self._amount(current, decision, second=second)
        now = self._now()
        review = {
            "stage": "second" if second else "first",
            "by": principal.actor,
            "approve": decision.approve,
            "amount_yuan": amount,
            "note": decision.note,
            "at": now,
        }
        data, target = self._outcome(current, review, now)
        fields: Record = {"status": target, "reviews": [*current["reviews"], review]}
        if target == "granted":
            fields |= {"amount_yuan": amount, "granted_at": now}
        event = self._event(data, current["driver_id"], f"{application_id}:{target}")
        moved = await self._store.move(
            application_id, status, fields, event, by=principal.actor, version=current["version"]
        )
        if moved is None:
            raise TransitionNotAllowed("someone reviewed this application meanwhile")
        await self._flush(application_id)
        return moved

    def _amount(self, current: Record, decision: Decision, *, second: bool) -> int | None:
        if not decision.approve:
            return None
        proposed = current["reviews"][0]["amount_yuan"] if second else None
        amount = decision.amount_yuan or proposed
        limit = self.kinds[current["kind"]].max_amount_yuan if current["kind"] in self.kinds else 0
        if amount is None or not 0 < amount <= limit:
            raise InvalidRequest(f"an approval names an amount from 1 to {limit} yuan")
        return int(amount)

    @staticmethod
    def _outcome(current: Record, review: Record, now: datetime) -> tuple[EventData, str]:
        common = {
            "application_id": current["_id"],
            "driver_id": current["driver_id"],
            "kind": current["kind"],
        }
        if not review["approve"]:
            rejected = ev.AidRejected(**common, stage=review["stage"], rejected_at=now)
            return rejected, "rejected"
        if review["stage"] == "first":
            first = ev.AidFirstApproved(
                **common, proposed_yuan=review["amount_yuan"], approved_at=now
            )
            return first, "first_approved"
        granted = ev.AidGranted(**common, amount_yuan=review["amount_yuan"], granted_at=now)
        return granted, "granted"

    async def follow_grade(self, driver_id: str, grade: str, changed_at: datetime) -> None:
        await self._store.follow_grade(driver_id, grade, changed_at)
