"""An award that starts from the account its consent check read (``Ledger.post``'s ``seen``),
on the real store: that read may be stale by the time the balance moves, and must never make
the ledger count twice, credit a frozen account or refuse on old figures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from common.testing import unique_name
from points.app import create_app
from points.domain import AccountNotActive, Entry
from points.earning import Earning
from points.ledger import Ledger
from points.plans import cap_keys
from points.settings import PointsSettings
from tests.integration.test_points_ledger import volunteer
from tests.support import serve


@dataclass
class Opened:
    """A driver's fresh account, an award for them not posted yet, and the account as read
    before it (what the consent check hands the ledger)."""

    service: Any
    ledger: Ledger
    driver: str
    award: Entry
    seen: dict[str, Any]


@asynccontextmanager
async def opened(settings: PointsSettings) -> AsyncIterator[Opened]:
    driver = unique_name("drv_")
    app = create_app(settings)
    async with serve(app):
        service = app.state.service
        await service.open_account(driver, datetime.now(UTC))
        decision = await service.decide(Earning.of(volunteer(driver, hours=2)))
        assert decision.award is not None, "the volunteer rule gives points"
        seen = await service.ledger.accounts.raw(driver)
        assert seen is not None
        yield Opened(service, service.ledger, driver, decision.award, seen)


async def _account(mongo: Any, settings: PointsSettings, driver: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = await mongo[settings.mongo_db]["accounts"].find_one(
        {"_id": driver}
    )
    assert doc is not None
    return doc


async def test_an_award_finished_by_another_consumer_after_the_insert_counts_once(
    make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    """Another consumer (a redelivery after a rebalance) finds the entry just inserted and
    applies it before this one gets to the balance: the read from before the insert is stale,
    and the balance update pinned to its ``seq`` must fail and look again."""
    settings = make_settings(PointsSettings)
    async with opened(settings) as it:
        ledger, driver, award = it.ledger, it.driver, it.award
        inserted = ledger.entries.insert
        raced: list[Entry] = []

        async def insert_then_race(entry: Entry) -> Entry | None:
            existing = await inserted(entry)
            if existing is None and not raced:
                raced.append(await ledger.post(entry))
            return existing

        ledger.entries.insert = insert_then_race  # type: ignore[method-assign]
        result = await ledger.post(award, seen=it.seen)
    assert [r.state for r in raced] == ["applied"], "the other consumer applied it first"
    assert result.state == "applied"
    assert result.balance_after == award.amount
    account = await _account(mongo, settings, driver)
    assert (account["balance"], account["seq"], account["pending"]) == (award.amount, 1, [])
    ledger_docs = mongo[settings.mongo_db]["ledger"]
    assert await ledger_docs.count_documents({"driver_id": driver}) == 1


async def test_an_account_frozen_after_the_read_gets_no_award(
    make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    """A freeze (the driver deactivated) does not move ``seq``: the balance update is pinned
    to the status the award was planned on too, so the award waits (parked by the caller)
    instead of landing."""
    settings = make_settings(PointsSettings)
    async with opened(settings) as it:
        await it.ledger.accounts.set_status(it.driver, "frozen")
        with pytest.raises(AccountNotActive):
            await it.ledger.post(it.award, seen=it.seen)
    account = await _account(mongo, settings, it.driver)
    assert (account["balance"], account["seq"], account["pending"]) == (0, 0, [])
    entry = await mongo[settings.mongo_db]["ledger"].find_one({"_id": it.award.entry_id})
    assert entry["state"] == "pending", "it applies once the account is active again"


async def test_a_cap_reached_only_in_the_earlier_read_refuses_nothing(
    make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    """A refusal is decided on a fresh read only: the earlier read here says the day's cap is
    used up, the account itself says nothing was earned today, and the award applies."""
    settings = make_settings(PointsSettings)
    async with opened(settings) as it:
        used_up = dict.fromkeys(cap_keys(it.award), 10**6)
        result = await it.ledger.post(it.award, seen={**it.seen, "caps": used_up})
    assert result.state == "applied"
    assert result.amount == it.award.amount
    account = await _account(mongo, settings, it.driver)
    assert account["balance"] == it.award.amount


async def test_another_drivers_account_is_never_where_an_award_starts(
    make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    """Handed the wrong account (same ``seq`` and status, another balance), the ledger reads
    the right one: the entry's ``balance_after`` is the driver's own."""
    settings = make_settings(PointsSettings)
    async with opened(settings) as it:
        other = unique_name("drv_")
        await it.service.open_account(other, datetime.now(UTC))
        for driver, amount in ((other, 100), (it.driver, 50)):
            await it.service.adjust(
                driver, amount, operator="op", reason="测试", request_id=f"seed-{driver}"
            )
        wrong = await it.ledger.accounts.raw(other)
        result = await it.ledger.post(it.award, seen=wrong)
    assert result.balance_after == 50 + it.award.amount
    account = await _account(mongo, settings, it.driver)
    assert account["balance"] == 50 + it.award.amount
    assert (await _account(mongo, settings, other))["balance"] == 100
