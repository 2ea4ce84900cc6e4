"""Events of the mutual-help board (issue 17), announced by the cases service on ``cases.events``.

A need is public on the board, but its events carry only ids, the category, the coarse area and
times: never the poster's or the helper's contact, the need's details or any other free text.
The subject of each is the driver who posted the need (notify tells that driver); points reads
``helper_id`` of a ``help.completed.v1`` whose ``helper_kind`` is ``driver`` to credit the helper.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData

HelpCategory = Literal["transport", "vehicle", "family", "health", "schooling", "rest", "other"]
HelperKind = Literal["driver", "station", "unit", "party_member", "village"]


class HelpPosted(EventData):
    """A driver (or staff for them) posted a need on the mutual-help board."""

    event_type: ClassVar[str] = "help.posted.v1"

    need_id: str
    driver_id: str = Field(description="The driver who needs help (posted by them or for them)")
    category: HelpCategory = Field(description="What kind of help is needed")
    area: str = Field(description="The coarse, public place (a district or port area)")
    window_start: AwareDatetime
    window_end: AwareDatetime
    claim_by: AwareDatetime = Field(description="Unclaimed by then, the committee takes it up")
    posted_at: AwareDatetime


class HelpClaimed(EventData):
    """A helper claimed the need: from now on the driver and the helper see each other's
    contact over HTTP (never in an event)."""

    event_type: ClassVar[str] = "help.claimed.v1"

    need_id: str
    driver_id: str
    category: HelpCategory = Field(description="What kind of help is needed")
    helper_kind: HelperKind
    helper_id: str = Field(description="A driver id, station id, unit id or an operator's sub")
    claimed_at: AwareDatetime


class HelpCompleted(EventData):
    """The driver (or staff for them) confirmed the help was done: points credits a helper who
    is a driver by the mutual-help rule."""

    event_type: ClassVar[str] = "help.completed.v1"

    need_id: str
    driver_id: str
    category: HelpCategory = Field(description="What kind of help is needed")
    helper_kind: HelperKind
    helper_id: str
    rating: int | None = Field(default=None, ge=1, le=5, description="The driver's rating")
    completed_at: AwareDatetime


class HelpFailed(EventData):
    """The help did not happen, as the driver, the helper or staff reported."""

    event_type: ClassVar[str] = "help.failed.v1"

    need_id: str
    driver_id: str
    category: HelpCategory = Field(description="What kind of help is needed")
    helper_kind: HelperKind
    helper_id: str
    reported_by: Literal["driver", "helper", "staff"]
    failed_at: AwareDatetime


class HelpUnclaimed(EventData):
    """Nobody claimed the need by its deadline: the cases service opened ``case_id`` for the
    handling unit (its ``case.opened.v1`` follows the usual loop)."""

    event_type: ClassVar[str] = "help.unclaimed.v1"

    need_id: str
    driver_id: str
    category: HelpCategory = Field(description="What kind of help is needed")
    case_id: str = Field(description="The case opened for the handling unit")
    claim_by: AwareDatetime
    handed_over_at: AwareDatetime
