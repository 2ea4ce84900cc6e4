"""三亮三比 public commitments (issue 17; docs/commitments.md).

Xuecheng's "亮身份比服务、亮标准比技能、亮承诺比践行" (seeds/002): a party-member driver shows
who they are (亮身份), the standard they keep (亮标准) and what they promise (亮承诺) for a
period, in public; at the period's end they compare themselves on service, skill and practice
(比服务、比技能、比践行) and their organisation evaluates them, which may nominate them for an
honour (cases.honours). Beside honours because the evaluation feeds a nomination and the
organisation that evaluates is the one that nominates.

Who may: a driver their own commitment, for a party organisation they are a member of; the
organisation for its members (the branch's secretary: party:branch and a person appointed
secretary of that organisation; the party committee's staff: party:manage). Another driver's
commitment answers 404. The public list (display name, pledges, state, scores, grade) is read
per organisation and period, without driver ids or notes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from cases.domain import CaseNotFound, InvalidRequest, NotPermitted, TransitionNotAllowed
from cases.honours import MAX_DISPLAY_NAME, Honours, public_text
from cases.party_rules import PARTY_KINDS
from cases.records import EVENT_SOURCE, TOPIC, CaseRecords, aware
from cases.store.commitments import CommitmentStore
from cases.store.party import PartyStore
from cases.store.units import DistrictUnits
from common.auth import Principal
from common.events import EventData, new_event
from common.events.commitments import (
    CommitmentEvaluated,
    CommitmentPublished,
    CommitmentSelfAssessed,
    Grade,
)
from common.events.honours import HonourCategory
from common.outbox import outbox_entry, outbox_fields, publish_now, push_outbox

Document = dict[str, Any]

_PERIOD = re.compile(r"^20\d{2}(-(0[1-9]|1[0-2]))?$")
PLEDGE_LENGTH = 300
NOTE_LENGTH = 500
MAX_NOTES = 50
PAIRS = ("service", "skill", "practice")  # 比服务、比技能、比践行
SCORES = range(1, 6)


@dataclass(frozen=True)
class Pledges:
    identity: str  # 亮身份
    standard: str  # 亮标准
    promise: str  # 亮承诺

    def checked(self) -> Document:
        return {
            "identity": public_text(self.identity, "亮身份 (identity)", PLEDGE_LENGTH),
            "standard": public_text(self.standard, "亮标准 (standard)", PLEDGE_LENGTH),
            "promise": public_text(self.promise, "亮承诺 (promise)", PLEDGE_LENGTH),
        }


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, int]  # service, skill, practice: 1-5
    grade: Grade
    comment: str | None = None
    nominate: HonourCategory | None = None
    nominate_period: str | None = None  # the honour round's period, else the commitment's


def new_commitment_id() -> str:
    """Random: an id derived from the driver would let anyone holding a driver id find them
    as a party member on the public list (one per driver, organisation and period is the
    store's unique index)."""
    return f"cmt_{uuid.uuid4().hex}"


def period_ending(period: str, now: datetime) -> bool:
    """From the first day of the period's last month on: the time to compare (比)."""
    year, _, month = period.partition("-")
    last = datetime(int(year), int(month or 12), 1, tzinfo=UTC)
    return now >= last


class Commitments:
    @classmethod
    def over(
        cls, db: AsyncDatabase[Document], records: CaseRecords, honours: Honours
    ) -> Commitments:
        """Over the service's store: the registry's units and party roles as cases follows them."""
        return cls(
            records,
            CommitmentStore(db),
            units=DistrictUnits(db),
            party=PartyStore(db),
            honours=honours,
        )

    def __init__(
        self,
        records: CaseRecords,
        store: CommitmentStore,
        *,
        units: DistrictUnits,
        party: PartyStore,
        honours: Honours,
    ) -> None:
        self._records = records
        self._store = store
        self._units = units
        self._party = party
        self._honours = honours

    def _now(self) -> datetime:
        return aware(self._records.clock())

    # ------------------------------------------------------------------ who may

    async def _leads(self, principal: Principal, organisation_id: str) -> bool:
        if principal.role != "operator":
            return False
        if principal.has_scope("party:manage"):
            return True
        if principal.has_scope("party:branch") and principal.person_id:
            return organisation_id in await self._party.branches_led_by(principal.person_id)
        return False

    async def _require_writer(self, principal: Principal, driver_id: str, org: str) -> str:
        """``driver`` or ``organisation``: who acts; others are refused (a driver: 404)."""
        if principal.role == "driver":
            if principal.driver_id != driver_id:
                raise CaseNotFound("no such commitment")
            return "driver"
        if await self._leads(principal, org):
            return "organisation"
        raise NotPermitted("the driver, or their organisation's secretary (party:branch)")

    async def _require_member(self, driver_id: str, organisation_id: str) -> None:
        if organisation_id not in await self._units.organisations_of(driver_id):
            raise InvalidRequest("the driver is not a member of this organisation")
        kinds = await self._units.org_kinds([organisation_id])
        if kinds.get(organisation_id) not in PARTY_KINDS:
            raise InvalidRequest("三亮三比 commitments are made in a party organisation")

    async def _mine(self, principal: Principal, commitment_id: str) -> tuple[Document, str]:
        doc = await self._store.get(commitment_id)
        if doc is None:
            raise CaseNotFound("no such commitment")
        return doc, await self._require_writer(principal, doc["driver_id"], doc["organisation_id"])

    # ------------------------------------------------------------------ the steps

    async def publish(
        self,
        principal: Principal,
        *,
        driver_id: str,
        organisation_id: str,
        period: str,
        display_name: str,
        pledges: Pledges,
    ) -> Document:
        if not _PERIOD.fullmatch(period):
            raise InvalidRequest("period is YYYY or YYYY-MM")
        by = await self._require_writer(principal, driver_id, organisation_id)
        await self._require_member(driver_id, organisation_id)
        now = self._now()
        cid = new_commitment_id()
        doc: Document = {
            "_id": cid,
            "driver_id": driver_id,
            "organisation_id": organisation_id,
            "period": period,
            "display_name": public_text(display_name, "a display name", MAX_DISPLAY_NAME),
            "pledges": pledges.checked(),
            "state": "published",
            "published_by": by,
            "published_at": now,
            "notes": [],
        }
        event = CommitmentPublished(
            commitment_id=cid,
            driver_id=driver_id,
            organisation_id=organisation_id,
            period=period,
            by="driver" if by == "driver" else "organisation",
            published_at=now,
        )
        doc.update(outbox_fields(self._entry(event, driver_id, f"{cid}.published", now)))
        if not await self._store.insert(doc):
            raise TransitionNotAllowed("a commitment for this organisation and period exists")
        await self._announce(cid)
        return await self._view(cid)

    async def revise(
        self, principal: Principal, cid: str, pledges: Pledges, display_name: str | None
    ) -> Document:
        """Change the pledges while the period runs (before anyone compares)."""
        await self._mine(principal, cid)
        fields: Document = {"pledges": pledges.checked(), "revised_at": self._now()}
        if display_name is not None:
            fields["display_name"] = public_text(display_name, "a display name", MAX_DISPLAY_NAME)
        if not await self._store.change(cid, {"state": "published"}, {"$set": fields}):
            raise TransitionNotAllowed("compared already: the pledges stay as they were")
        return await self._view(cid)

    async def note(self, principal: Principal, cid: str, text: str) -> Document:
        """A progress note (what was done for the promise), by the driver or the organisation."""
        _, by = await self._mine(principal, cid)
        note = {"at": self._now(), "by": by, "text": public_text(text, "a note", NOTE_LENGTH)}
        expect = {"state": {"$ne": "evaluated"}, f"notes.{MAX_NOTES - 1}": {"$exists": False}}
        if not await self._store.change(cid, expect, {"$push": {"notes": note}}):
            raise TransitionNotAllowed(f"evaluated already, or {MAX_NOTES} notes")
        return await self._view(cid)

    async def self_assess(
        self, principal: Principal, cid: str, scores: dict[str, int], text: str
    ) -> Document:
        doc, by = await self._mine(principal, cid)
        if by != "driver":
            raise NotPermitted("a self-assessment is the driver's own")
        now = self._ending(doc)
        event = CommitmentSelfAssessed(
            commitment_id=cid,
            driver_id=doc["driver_id"],
            organisation_id=doc["organisation_id"],
            period=doc["period"],
            assessed_at=now,
            **_scores(scores),
        )
        assessment = {"scores": _scores(scores), "text": public_text(text, "自评", NOTE_LENGTH)}
        update = push_outbox(
            {"$set": {"state": "self_assessed", "self_assessment": assessment | {"at": now}}},
            self._entry(event, doc["driver_id"], f"{cid}.self_assessed", now),
        )
        if not await self._store.change(cid, {"state": "published"}, update):
            raise TransitionNotAllowed("assessed already")
        await self._announce(cid)
        return await self._view(cid)

    async def evaluate(self, principal: Principal, cid: str, evaluation: Evaluation) -> Document:
        doc, by = await self._mine(principal, cid)
        if by != "organisation":
            raise NotPermitted("the organisation evaluates (party:branch)")
        now = self._ending(doc)
        event = CommitmentEvaluated(
            commitment_id=cid,
            driver_id=doc["driver_id"],
            organisation_id=doc["organisation_id"],
            period=doc["period"],
            grade=evaluation.grade,
            nominated_for=evaluation.nominate,
            evaluated_at=now,
            **_scores(evaluation.scores),
        )
        comment = (
            public_text(evaluation.comment, "a comment", NOTE_LENGTH)
            if evaluation.comment
            else None
        )
        record = {
            "scores": _scores(evaluation.scores),
            "grade": evaluation.grade,
            "comment": comment,
            "by": principal.actor,
            "at": now,
            "nominated_for": evaluation.nominate,
        }
        update = push_outbox(
            {"$set": {"state": "evaluated", "evaluation": record}},
            self._entry(event, doc["driver_id"], f"{cid}.evaluated", now),
        )
        if evaluation.nominate is not None:  # checked before anything is written
            await self._nominate(principal, doc, evaluation, dry=True)
        if not await self._store.change(cid, {"state": {"$ne": "evaluated"}}, update):
            raise TransitionNotAllowed("evaluated already")
        if evaluation.nominate is not None:
            await self._nominate(principal, doc, evaluation, dry=False)
        await self._announce(cid)
        return await self._view(cid)

    async def _nominate(
        self, principal: Principal, doc: Document, evaluation: Evaluation, *, dry: bool
    ) -> None:
        """The organisation's nomination for an honour, with the evaluation as its reason."""
        assert evaluation.nominate is not None
        period = evaluation.nominate_period or doc["period"]
        if dry:
            await self._honours.check_nomination(evaluation.nominate, period, doc["driver_id"])
            return
        who = {"kind": "organisation", "id": doc["organisation_id"], "sub": principal.actor}
        reason = f"三亮三比 {doc['period']}: {evaluation.grade} ({doc['_id']})"
        await self._honours.nominate_as(who, evaluation.nominate, period, doc["driver_id"], reason)

    def _ending(self, doc: Document) -> datetime:
        now = self._now()
        if not period_ending(doc["period"], now):
            raise TransitionNotAllowed("the comparison (比) is made in the period's last month")
        return now

    # ------------------------------------------------------------------ reading

    async def read(self, principal: Principal, cid: str) -> Document:
        await self._mine(principal, cid)
        return await self._view(cid)

    async def public_list(self, organisation_id: str, period: str, limit: int) -> list[Document]:
        if not _PERIOD.fullmatch(period):
            raise InvalidRequest("period is YYYY or YYYY-MM")
        return await self._store.public(organisation_id, period, limit)

    async def _view(self, cid: str) -> Document:
        doc = await self._store.get(cid)
        assert doc is not None
        return doc

    # ------------------------------------------------------------------ announcing

    def _entry(self, data: EventData, driver_id: str, event_id: str, now: datetime) -> Document:
        event = new_event(data, source=EVENT_SOURCE, subject=driver_id, event_id=event_id, time=now)
        return outbox_entry(TOPIC, event)

    async def _announce(self, cid: str) -> None:
        await publish_now(self._records.relay, self._store.collection, cid)


def _scores(scores: dict[str, int]) -> dict[str, int]:
    if set(scores) != set(PAIRS) or not all(v in SCORES for v in scores.values()):
        raise InvalidRequest("scores are service, skill and practice, each 1 to 5")
    return {k: scores[k] for k in PAIRS}
