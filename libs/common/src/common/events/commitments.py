"""Events of 三亮三比 public commitments (issue 17; docs/commitments.md), announced by the cases
service on ``cases.events``, subject = the driver.

A party-member driver (or their organisation for them) publishes a commitment for a period:
亮身份·比服务, 亮标准·比技能, 亮承诺·比践行 (seeds/002: "亮身份比服务、亮标准比技能、
亮承诺比践行"). The events carry ids, the period, scores and the grade; never the texts (they are
on the public list, and the driver's own words stay in the cases service).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData
from common.events.honours import HonourCategory

Grade = Literal["excellent", "good", "fair", "poor"]


class CommitmentPublished(EventData):
    event_type: ClassVar[str] = "commitment.published.v1"

    commitment_id: str
    driver_id: str
    organisation_id: str
    period: str = Field(description="YYYY or YYYY-MM")
    by: Literal["driver", "organisation"] = Field(description="Who published it")
    published_at: AwareDatetime


class CommitmentSelfAssessed(EventData):
    """The driver's end-of-period self-assessment (比): a score of 1-5 per comparison."""

    event_type: ClassVar[str] = "commitment.self_assessed.v1"

    commitment_id: str
    driver_id: str
    organisation_id: str
    period: str
    service: int = Field(ge=1, le=5, description="比服务")
    skill: int = Field(ge=1, le=5, description="比技能")
    practice: int = Field(ge=1, le=5, description="比践行")
    assessed_at: AwareDatetime


class CommitmentEvaluated(EventData):
    """The organisation's evaluation at the period's end; it may nominate the driver for an
    honour (the nomination is recorded in the same service)."""

    event_type: ClassVar[str] = "commitment.evaluated.v1"

    commitment_id: str
    driver_id: str
    organisation_id: str
    period: str
    service: int = Field(ge=1, le=5, description="比服务")
    skill: int = Field(ge=1, le=5, description="比技能")
    practice: int = Field(ge=1, le=5, description="比践行")
    grade: Grade
    nominated_for: HonourCategory | None = Field(
        default=None, description="The honour the organisation nominated the driver for"
    )
    evaluated_at: AwareDatetime
