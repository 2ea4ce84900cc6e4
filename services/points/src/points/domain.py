"""Points accounts and their rules: pure, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common.events.points import Grade

AccountStatus = Literal["active", "frozen", "closed"]

OPENING_GRADE: Grade = "A"


class PointsError(Exception):
    """Base of the points service's domain errors."""


class AccountNotFound(PointsError):
    pass


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)

    driver_id: str
    balance: int = Field(ge=0)
    grade: Grade
    status: AccountStatus
    opened_at: datetime
