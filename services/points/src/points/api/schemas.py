from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from common.events.points import Grade
from points.domain import Account, AccountStatus


class AccountView(BaseModel):
    driver_id: str
    balance: int
    grade: Grade
    status: AccountStatus
    opened_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls(**account.model_dump())


class LedgerPage(BaseModel):
    items: list[dict[str, object]]
    next_cursor: str | None = None
