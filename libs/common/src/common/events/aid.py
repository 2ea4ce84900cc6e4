"""Events of aid applications (issue 17, Xuecheng's 五大 support), announced by the cases service
on ``cases.events``.

They carry ids, the kind, the stage and the amount only: never the household facts, the
documents' names or a reviewer's note. The subject of each is the applying driver (notify
tells that driver); money is paid outside the system, so a grant records the amount only.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData

# Kinds are the committee's data (living, study, serious_illness, elderly_care built in).
AidKind = str


class AidApplied(EventData):
    """A driver (or care staff for them) applied for aid and met the kind's rules."""

    event_type: ClassVar[str] = "aid.applied.v1"

    application_id: str = Field(description="The aid application, A<yyyymmdd>-<random>")
    driver_id: str = Field(description="The applicant (who applied, or for whom staff applied)")
    kind: AidKind = Field(
        description="living, study, serious_illness, elderly_care or a kind "
        "the committee configured"
    )
    on_behalf: bool = Field(description="Staff applied for the driver")
    applied_at: AwareDatetime


class AidFirstApproved(EventData):
    """The first reviewer approved and proposed an amount; a second person decides."""

    event_type: ClassVar[str] = "aid.first_approved.v1"

    application_id: str
    driver_id: str
    kind: AidKind
    proposed_yuan: int = Field(gt=0)
    approved_at: AwareDatetime


class AidGranted(EventData):
    """A second reviewer, not the first, granted the aid; money is paid outside the system."""

    event_type: ClassVar[str] = "aid.granted.v1"

    application_id: str
    driver_id: str
    kind: AidKind
    amount_yuan: int = Field(gt=0, description="Granted; paid outside the system")
    granted_at: AwareDatetime


class AidRejected(EventData):
    """A reviewer refused the application (the reason is shown to the driver in the app)."""

    event_type: ClassVar[str] = "aid.rejected.v1"

    application_id: str
    driver_id: str
    kind: AidKind
    stage: Literal["first", "second"] = Field(description="Which review refused it")
    rejected_at: AwareDatetime
