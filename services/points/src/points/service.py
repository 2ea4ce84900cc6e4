"""Points use cases."""

from __future__ import annotations

from datetime import datetime

from points.domain import Account, AccountNotFound
from points.store.accounts import AccountStore


class PointsService:
    def __init__(self, accounts: AccountStore) -> None:
        self._accounts = accounts

    async def open_account(self, driver_id: str, opened_at: datetime) -> Account:
        return await self._accounts.open(driver_id, opened_at)

    async def get_account(self, driver_id: str) -> Account:
        account = await self._accounts.get(driver_id)
        if account is None:
            raise AccountNotFound(driver_id)
        return account
