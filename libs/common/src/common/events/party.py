"""Events of party-member life (issue 17; docs/party-life.md), announced by the cases service on
``cases.events``.

Ids, kinds, minutes and member points only: never a meeting link, a course's content or anything
about the member beyond the branch. Only members who consented to ``party_life`` are named.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData

# 三会一课 and the monthly party day: 支部党员大会, 支委会, 党小组会, 党课, 主题党日.
MeetingKind = Literal["branch_assembly", "committee", "group", "party_lecture", "party_day"]
# What member points are for (their own ledger, apart from service points).
MemberPointsCause = Literal["attendance", "learning", "volunteer", "adjustment"]


class PartyMeetingInvited(EventData):
    """A consenting member of the branch is invited to a meeting it scheduled (notify reminds)."""

    event_type: ClassVar[str] = "party.meeting.invited.v1"

    meeting_id: str
    driver_id: str
    branch_id: str
    kind: MeetingKind
    title: str = Field(max_length=100)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    join_ref: str = Field(description="The meeting system's opaque reference to join with")


class PartyMeetingHeld(EventData):
    """The branch reported the meeting held: how many of its consenting members attended."""

    event_type: ClassVar[str] = "party.meeting.held.v1"

    meeting_id: str
    branch_id: str
    kind: MeetingKind
    invited: int = Field(ge=0)
    attended: int = Field(ge=0)
    held_at: AwareDatetime


class PartyAttendanceRecorded(EventData):
    """A member attended a held meeting long enough to count (and earn by the member rule)."""

    event_type: ClassVar[str] = "party.attendance.recorded.v1"

    meeting_id: str
    driver_id: str
    branch_id: str
    minutes: int = Field(ge=0)
    recorded_at: AwareDatetime


class MemberPointsAwarded(EventData):
    """Member points (党员量化积分) credited to a party member's own ledger; never service
    points: the points service does not read this type."""

    event_type: ClassVar[str] = "party.points.awarded.v1"

    entry_id: str
    driver_id: str
    cause: MemberPointsCause
    rule_id: str
    points: int
    period: str = Field(description="YYYY-MM: the month whose cap the entry counts against")
    awarded_at: AwareDatetime
