"""What operators look after beside the register itself: data held for review instead of
overwriting, the log of revealed personal values, and census campaigns by quarter (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.domain import InvalidDriverData

RevealField = Literal["national_id", "phone", "family"]
# Codes, never free text: an audit record must not become a place where PII is typed in.
RevealPurpose = Literal[
    "identity_check", "case_handling", "school_admission", "legal_request", "census"
]
ReviewDecision = Literal["accept", "reject"]
ReviewStatus = Literal["open", "accepted", "rejected"]
_QUARTER = re.compile(r"^(20\d{2})Q([1-4])$")  # year 0 has no datetime


def quarter_start(quarter: str) -> datetime:
    """``2026Q2`` -> 2026-04-01T00:00Z (years 2000-2099); InvalidDriverData for anything else."""
    found = _QUARTER.fullmatch(quarter)
    if not found:
        raise InvalidDriverData("quarter", "must look like 2026Q2")
    year, q = int(found.group(1)), int(found.group(2))
    return datetime(year, 3 * (q - 1) + 1, 1, tzinfo=UTC)


def current_quarter(now: datetime) -> str:
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


class Campaign(BaseModel):
    """A quarterly census: drivers not verified since ``verified_since`` are still to do."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    quarter: str
    verified_since: datetime
    grid_ids: list[str] = Field(default_factory=list)
    started_by: str
    started_at: datetime


class Review(BaseModel):
    """Data that disagreed with the register, kept for an operator instead of overwriting."""

    model_config = ConfigDict(frozen=True)

    review_id: str
    driver_id: str
    source: str
    field: Literal["name", "phone", "plate", "partner_driver_ref"]
    # unlinked_partner: a value for an empty field, from a partner the driver is not linked to.
    reason: Literal["differs", "plate_taken", "invalid_format", "unlinked_partner"]
    current: str | None = None
    proposed: str = Field(description="Display form; phone numbers masked")
    proposed_enc: str | None = None
    partner_id: str | None = None
    status: ReviewStatus = "open"
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None


class AccessRecord(BaseModel):
    """Who saw which full value of which driver, when and why. Holds no PII value itself."""

    model_config = ConfigDict(frozen=True)

    access_id: str
    driver_id: str
    field: RevealField
    purpose: RevealPurpose
    case_ref: str | None = None
    by: str
    role: str
    at: datetime
