"""Party-member life for people on the road (issue 17; docs/party-life.md): online branch
meetings (三会一课, the monthly party day) with attendance from the meeting system's joins and
leaves, learning time from the learning platform (掌上课堂), and member points of their own.

Recorded only for party members (members of a party organisation in the registry) who gave
the ``party_life`` consent; a fact about anyone else is not kept at all. A branch's secretary
(a token naming the registry person appointed secretary) runs and reads their own branch; the
party committee's staff (party:manage) every branch; a member reads their own statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cases.domain import CaseNotFound, InvalidRequest, NotPermitted, TransitionNotAllowed
from cases.party_points import Earning, MemberPoints
from cases.party_rules import BRANCH_KINDS, PARTY_KINDS, Mark, attended_minutes, counts
from cases.records import EVENT_SOURCE, TOPIC, aware
from cases.settings import CasesSettings
from cases.store.party import PartyStore
from cases.store.units import DistrictUnits
from common.auth import Principal
from common.clock import Clock
from common.events import CloudEvent, InvalidEvent, new_event
from common.events.partner import PartyLearningRecorded, PartyMeetingAttendance, VolunteerLogged
from common.events.party import (
    MeetingKind,
    PartyAttendanceRecorded,
    PartyMeetingHeld,
    PartyMeetingInvited,
)
from common.logging import get_logger
from common.outbox import (
    OUTBOX_HIDDEN,
    RelayRef,
    drop_outbox,
    outbox_entry,
    outbox_fields,
    publish_now,
    push_outbox,
)

log = get_logger(__name__)
Document = dict[str, Any]
PURPOSE = "party_life"


@dataclass(frozen=True)
class MeetingPlan:
    branch_id: str
    kind: MeetingKind
    title: str
    starts_at: datetime
    ends_at: datetime
    join_ref: str


class PartyLife:
    def __init__(
        self,
        store: PartyStore,
        units: DistrictUnits,
        points: MemberPoints,
        settings: CasesSettings,
        *,
        clock: Clock,
        relay: RelayRef,
    ) -> None:
        self._store = store
        self._units = units
        self.points = points
        self._share = settings.party_attendance_share
        self._required_minutes = int(settings.party_learning_hours_per_year * 60)
        self._max_age = timedelta(days=settings.party_event_max_age_days)
        self._max_future = timedelta(minutes=settings.party_event_max_future_minutes)
        self._clock = clock
        self._relay = relay

    def _now(self) -> datetime:
        return aware(self._clock())

    def _require_recent(self, at: datetime) -> datetime:
        """A partner fact's own date, refused outside the accepted window: the member-point cap
        is kept per month of that date, and each month a partner made up would be a fresh cap.
        Asked only of a fact to be recorded: one about anyone else is kept nowhere, not even as
        a dead letter."""
        now = self._now()
        earliest, latest = now - self._max_age, now + self._max_future
        at = aware(at)
        if not earliest <= at <= latest:
            raise InvalidEvent(
                "event_time_out_of_range",
                f"dated {at.isoformat()}; accepted from {earliest.isoformat()} "
                f"to {latest.isoformat()}",
            )
        return at

    # ------------------------------------------------------------------ followed facts

    async def follow_consent(self, driver_id: str, consents: dict[str, bool], at: datetime) -> None:
        if PURPOSE in consents:
            await self._store.note_consent(driver_id, consents[PURPOSE], aware(at))

    async def note_role(
        self, organisation_id: str, person_id: str, role: str, *, held: bool, at: datetime
    ) -> None:
        await self._store.note_role(organisation_id, person_id, role, held=held, at=aware(at))

    # ------------------------------------------------------------------ who may

    async def _require_branch(self, principal: Principal, branch_id: str) -> None:
        """The committee's staff run every branch; a secretary only the one they hold."""
        if principal.role != "operator":
            raise NotPermitted("branch secretaries and the party committee's staff only")
        if principal.has_scope("party:manage"):
            return
        person = principal.person_id if principal.has_scope("party:branch") else None
        if person and branch_id in await self._store.branches_led_by(person):
            return
        raise NotPermitted("only this branch's secretary (or party:manage) may")

    async def _require_member_reader(self, principal: Principal, driver_id: str) -> None:
        if principal.role == "driver" and principal.driver_id == driver_id:
            return
        if principal.role == "operator" and principal.has_scope("party:manage"):
            return
        if principal.role == "operator" and principal.has_scope("party:branch"):
            person = principal.person_id
            led = await self._store.branches_led_by(person) if person else set()
            shared = led & set(await self._units.organisations_of(driver_id))
            # Only a party branch's secretary: the same person may also be the secretary of a
            # trade union or a fleet the member belongs to, which makes them no party secretary.
            kinds = await self._units.org_kinds(sorted(shared)) if shared else {}
            if any(kind in BRANCH_KINDS for kind in kinds.values()):
                return
        raise NotPermitted("a member's own statement, their secretary's or the committee's")

    async def _is_branch(self, branch_id: str) -> bool:
        kinds = await self._units.org_kinds([branch_id])
        return kinds.get(branch_id) in BRANCH_KINDS

    async def _recorded_members(self, branch_id: str) -> list[str]:
        """The branch's members who consented to party life, in id order."""
        drivers = await self._units.drivers_in("organisation", branch_id, subtree=False)
        return sorted(await self._store.consents(drivers))

    async def _records_party_life(self, driver_id: str) -> bool:
        """A consenting member of a party organisation."""
        if not await self._store.consents([driver_id]):
            return False
        kinds = await self._units.org_kinds(await self._units.organisations_of(driver_id))
        return any(kind in PARTY_KINDS for kind in kinds.values())

    # ------------------------------------------------------------------ meetings

    async def schedule(self, principal: Principal, plan: MeetingPlan) -> Document:
        if not await self._is_branch(plan.branch_id):
            raise CaseNotFound("no such party branch")
        await self._require_branch(principal, plan.branch_id)
        if plan.ends_at <= plan.starts_at:
            raise InvalidRequest("a meeting ends after it starts")
        now = self._now()
        meeting_id = f"PM{aware(plan.starts_at):%Y%m%d}-{uuid.uuid4().hex[:8]}"
        members = await self._recorded_members(plan.branch_id)
        events = [
            outbox_entry(
                TOPIC,
                new_event(
                    PartyMeetingInvited(
                        meeting_id=meeting_id,
                        driver_id=driver_id,
                        branch_id=plan.branch_id,
                        kind=plan.kind,
                        title=plan.title,
                        starts_at=plan.starts_at,
                        ends_at=plan.ends_at,
                        join_ref=plan.join_ref,
                    ),
                    source=EVENT_SOURCE,
                    subject=driver_id,
                    event_id=f"{meeting_id}:{driver_id}:invited",
                    time=now,
                ),
            )
            for driver_id in members
        ]
        doc: Document = {
            "_id": meeting_id,
            "branch_id": plan.branch_id,
            "kind": plan.kind,
            "title": plan.title,
            "starts_at": aware(plan.starts_at),
            "ends_at": aware(plan.ends_at),
            "join_ref": plan.join_ref,
            "status": "scheduled",
            "invited": len(members),
            "scheduled_by": principal.actor,
            "scheduled_at": now,
            **outbox_fields(events),
        }
        await self._store.add_meeting(doc)
        await publish_now(self._relay, self._store.meetings, meeting_id)
        drop_outbox(doc)
        return doc

    async def meeting(self, principal: Principal, meeting_id: str) -> Document:
        meeting = await self._store.meeting(meeting_id)
        if meeting is None:
            raise CaseNotFound("no such meeting")
        await self._require_branch(principal, meeting["branch_id"])
        meeting["attendance"] = await self._store.attendance_of(meeting_id)
        return meeting

    async def meetings(self, principal: Principal, branch_id: str, limit: int) -> list[Document]:
        await self._require_branch(principal, branch_id)
        return await self._store.meetings_of([branch_id], limit)

    async def hold(self, principal: Principal, meeting_id: str) -> Document:
        """The branch reports the meeting held: attendance is counted, points earned."""
        meeting = await self._store.meeting(meeting_id)
        if meeting is None:
            raise CaseNotFound("no such meeting")
        await self._require_branch(principal, meeting["branch_id"])
        now = self._now()
        if now < aware(meeting["starts_at"]):
            raise TransitionNotAllowed("a meeting is reported held once it has started")
        held = {**meeting, "held_at": now, "status": "held"}
        attendance = await self._store.attendance_of(meeting_id)
        attended = [
            a
            for a in attendance
            if counts(self._minutes(held, a), *self._window(held), self._share)
        ]
        data = PartyMeetingHeld(
            meeting_id=meeting_id,
            branch_id=meeting["branch_id"],
            kind=meeting["kind"],
            invited=meeting["invited"],
            attended=len(attended),
            held_at=now,
        )
        event = new_event(
            data,
            source=EVENT_SOURCE,
            subject=meeting["branch_id"],
            event_id=f"{meeting_id}:held",
            time=now,
        )
        fields = {"held_at": now, "held_by": principal.actor, "attended": len(attended)}
        if not await self._store.mark_held(meeting_id, fields, [outbox_entry(TOPIC, event)]):
            # Reported before: judge every attendance again (idempotent), in case a crash came
            # between the report and the last member's points.
            await self._judge_all(meeting_id)
            raise TransitionNotAllowed("this meeting was reported held already")
        await publish_now(self._relay, self._store.meetings, meeting_id)
        await self._judge_all(meeting_id)
        return held | fields

    async def _judge_all(self, meeting_id: str) -> None:
        meeting = await self._store.meeting(meeting_id)
        if meeting is None or meeting.get("status") != "held":
            return
        for doc in await self._store.attendance_of(meeting_id):
            await self._evaluate(meeting, doc)

    # ------------------------------------------------------------------ attendance

    @staticmethod
    def _window(meeting: Document) -> tuple[datetime, datetime]:
        ends = aware(meeting["ends_at"])
        if meeting.get("held_at") is not None:
            ends = min(ends, aware(meeting["held_at"]))
        return aware(meeting["starts_at"]), ends

    def _minutes(self, meeting: Document, attendance: Document) -> int:
        marks = [Mark(m["action"], aware(m["at"]), m["event_id"]) for m in attendance["marks"]]
        return attended_minutes(marks, *self._window(meeting))

    async def record_mark(self, event: CloudEvent, data: PartyMeetingAttendance) -> None:
        meeting = await self._store.meeting(data.meeting_id)
        if meeting is None:
            raise InvalidEvent("unknown_meeting", "no meeting has this meeting_id")
        branch_id = meeting["branch_id"]
        if not (
            branch_id in await self._units.organisations_of(data.driver_id)
            and await self._store.consents([data.driver_id])
        ):
            log.info("party_mark_not_recorded", meeting_id=data.meeting_id, reason="not_recorded")
            return
        key = f"{data.meeting_id}:{data.driver_id}"
        fields = {
            "meeting_id": data.meeting_id,
            "driver_id": data.driver_id,
            "branch_id": branch_id,
            "year": f"{aware(meeting['starts_at']):%Y}",
            "counted": False,
        }
        mark = {
            "event_id": f"{event.source}:{event.id}",
            "action": data.action,
            "at": aware(data.at),
        }
        await self._store.add_mark(key, fields, mark)
        doc = await self._store.attendance.find_one({"_id": key}, OUTBOX_HIDDEN)
        # Read again after the mark: a report of the meeting as held between the first read and
        # the mark judged every attendance without this one, so this one is judged on the
        # meeting as it is now.
        meeting = await self._store.meeting(data.meeting_id) or meeting
        if doc is not None:
            await self._evaluate(meeting, doc)

    async def _evaluate(self, meeting: Document, attendance: Document) -> None:
        """Minutes kept current; once the meeting was held and they count, the attendance is
        announced and earns, once (a late leave or join still counts after the report)."""
        key = attendance["_id"]
        minutes = self._minutes(meeting, attendance)
        await self._store.attendance.update_one({"_id": key}, {"$set": {"minutes": minutes}})
        if meeting.get("status") != "held" or not counts(
            minutes, *self._window(meeting), self._share
        ):
            return
        now = self._now()
        data = PartyAttendanceRecorded(
            meeting_id=meeting["_id"],
            driver_id=attendance["driver_id"],
            branch_id=meeting["branch_id"],
            minutes=minutes,
            recorded_at=now,
        )
        event = new_event(
            data,
            source=EVENT_SOURCE,
            subject=attendance["driver_id"],
            event_id=f"{key}:recorded",
            time=now,
        )
        await self._store.attendance.update_one(
            {"_id": key, "counted": False},
            push_outbox({"$set": {"counted": True, "counted_at": now}}, outbox_entry(TOPIC, event)),
        )
        await publish_now(self._relay, self._store.attendance, key)
        earning = Earning(
            attendance["driver_id"],
            "attendance",
            meeting["_id"],
            aware(meeting["starts_at"]),
            minutes,
        )
        await self.points.award(earning)

    # ------------------------------------------------------------------ learning, volunteering

    async def record_learning(self, event: CloudEvent, data: PartyLearningRecorded) -> None:
        if not await self._records_party_life(data.driver_id):
            log.info("party_learning_not_recorded", reason="not_recorded")
            return
        at = self._require_recent(data.learned_at)
        ref = f"{event.source}:{event.id}"
        await self._store.add_learning(
            {
                "_id": ref,
                "driver_id": data.driver_id,
                "course_ref": data.course_ref,
                "minutes": data.minutes,
                "year": f"{at:%Y}",
                "learned_at": at,
            }
        )
        await self.points.award(Earning(data.driver_id, "learning", ref, at, data.minutes))

    async def record_volunteering(self, event: CloudEvent, data: VolunteerLogged) -> None:
        """The volunteer team's hours earn service points in the points service and, for a
        consenting party member, member points here: two ledgers, two rule tables."""
        if not await self._records_party_life(data.driver_id):
            return
        at = self._require_recent(data.logged_at)
        ref = f"{event.source}:{event.id}"
        minutes = int(data.hours * 60)
        await self.points.award(Earning(data.driver_id, "volunteer", ref, at, minutes))

    # ------------------------------------------------------------------ figures

    async def branch_figures(self, principal: Principal, branch_id: str, year: str) -> Document:
        if not await self._is_branch(branch_id):
            raise CaseNotFound("no such party branch")
        await self._require_branch(principal, branch_id)
        members = await self._recorded_members(branch_id)
        totals = await self._store.totals(members, year)
        rows = [
            {
                "driver_id": driver_id,
                **totals[driver_id],
                "learning_required_minutes": self._required_minutes,
                "learning_met": totals[driver_id]["learning_minutes"] >= self._required_minutes,
            }
            for driver_id in members
        ]
        meetings = await self._store.meetings_of([branch_id], 1000)
        held = [
            m for m in meetings if m["status"] == "held" and f"{aware(m['starts_at']):%Y}" == year
        ]
        return {
            "branch_id": branch_id,
            "year": year,
            "members": rows,
            "meetings_held": len(held),
            "points": sum(r["points"] for r in rows),
            "learning_met": sum(1 for r in rows if r["learning_met"]),
        }

    async def statement(self, principal: Principal, driver_id: str, year: str) -> Document:
        await self._require_member_reader(principal, driver_id)
        totals = (await self._store.totals([driver_id], year))[driver_id]
        entries = await self.points.entries(driver_id, 200)
        return {
            "driver_id": driver_id,
            "year": year,
            **totals,
            "learning_required_minutes": self._required_minutes,
            "entries": entries,
        }
