"""Crashes in the middle of a redemption are finished by the sweep: nothing oversold or lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.faults import InjectedFault
from common.testing import unique_name, wait_until
from points.app import create_app
from points.mall import Mall
from points.service import PointsService
from points.settings import PointsSettings
from tests.support import serve


def crashing(
    make_settings: Callable[..., PointsSettings], tmp_path: Path, point: str
) -> PointsSettings:
    return make_settings(
        PointsSettings,
        faults={f"points.mall.{point}": f"raise_once:{tmp_path / point}"},
        sweep_seconds=0.2,
        redemption_sweep_after_seconds=0.5,
    )


async def driver_with(service: PointsService, points: int) -> str:
    driver_id = unique_name("drv_")
    await service.open_account(driver_id, datetime.now(UTC))
    await service.adjust(driver_id, points, operator="op", reason="seed", request_id="seed")
    return driver_id


async def reward(mall: Mall, *, cost: int, stock: int) -> str:
    reward_id = unique_name("rw-")
    await mall.catalogue.add_reward(
        reward_id,
        {
            "name": "雨伞",
            "category": "daily goods",
            "cost": cost,
            "stock": stock,
            "channel": "online",
            "counters": [],
            "description": None,
        },
    )
    return reward_id


async def balance(service: PointsService, driver_id: str) -> int:
    account = await service.get_account(driver_id)
    assert account.balance == await service.ledger.entries.sum_applied(driver_id)
    return account.balance


async def test_a_crash_after_the_unit_is_taken_is_rolled_back_by_the_sweep(
    make_settings: Callable[..., PointsSettings], tmp_path: Path
) -> None:
    app = create_app(crashing(make_settings, tmp_path, "after_stock"))
    async with serve(app):
        service, mall = app.state.service, app.state.mall
        driver_id = await driver_with(service, 100)
        reward_id = await reward(mall, cost=60, stock=1)

        with pytest.raises(InjectedFault):
            await mall.reserve(driver_id, reward_id, request_key="k1")
        left = await mall.steps.redemptions.collection.find_one({"driver_id": driver_id})
        assert left is not None and left["state"] == "reserving"
        assert (await mall.catalogue.reward(reward_id)).stock == 0  # the unit is held, not gone

        async def rolled_back() -> bool:
            doc = await mall.steps.redemptions.get(left["_id"])
            unit = await mall.catalogue.reward(reward_id)
            return doc is not None and doc["state"] == "failed" and unit.held == 0

        await wait_until(rolled_back, timeout=20)
        assert (await mall.catalogue.reward(reward_id)).stock == 1
        assert await balance(service, driver_id) == 100
        # The unit is really back: a new reservation takes it.
        again = await mall.reserve(driver_id, reward_id)
        assert again.redemption.state == "reserved"
        assert await balance(service, driver_id) == 40
        assert (await mall.catalogue.reward(reward_id)).stock == 0


async def test_a_crash_after_the_points_are_taken_is_completed_by_the_sweep(
    make_settings: Callable[..., PointsSettings], tmp_path: Path
) -> None:
    app = create_app(crashing(make_settings, tmp_path, "after_points"))
    async with serve(app):
        service, mall = app.state.service, app.state.mall
        driver_id = await driver_with(service, 100)
        reward_id = await reward(mall, cost=70, stock=2)

        with pytest.raises(InjectedFault):
            await mall.reserve(driver_id, reward_id, request_key="k1")
        assert await balance(service, driver_id) == 30

        async def completed() -> dict[str, object] | None:
            doc = await mall.steps.redemptions.collection.find_one({"driver_id": driver_id})
            return doc if doc and doc["state"] == "reserved" else None

        doc = await wait_until(completed, timeout=20)
        assert await balance(service, driver_id) == 30
        unit = await mall.catalogue.reward(reward_id)
        assert (unit.stock, unit.held) == (1, 1)
        # The driver's retry with the same key finds the reservation and gets a usable code.
        retried = await mall.reserve(driver_id, reward_id, request_key="k1")
        assert retried.redemption.redemption_id == doc["_id"]
        assert retried.code is not None and not retried.created
        assert await balance(service, driver_id) == 30


async def test_a_crash_after_the_refund_is_completed_by_the_sweep_and_returns_the_unit_once(
    make_settings: Callable[..., PointsSettings], tmp_path: Path
) -> None:
    app = create_app(crashing(make_settings, tmp_path, "after_refund"))
    async with serve(app):
        service, mall = app.state.service, app.state.mall
        driver_id = await driver_with(service, 100)
        reward_id = await reward(mall, cost=100, stock=1)
        rid = (await mall.reserve(driver_id, reward_id)).redemption.redemption_id

        with pytest.raises(InjectedFault):
            await mall.cancel(rid, by="op", reason="wrong size")
        assert await balance(service, driver_id) == 100  # refunded before the crash

        async def cancelled() -> bool:
            return (await mall.redemption(rid)).state == "cancelled"

        await wait_until(cancelled, timeout=20)
        await mall.cancel(rid, by="op", reason="wrong size")
        assert await balance(service, driver_id) == 100
        unit = await mall.catalogue.reward(reward_id)
        assert (unit.stock, unit.held) == (1, 0)


async def test_a_unit_taken_late_for_a_redemption_that_moved_on_is_given_back_by_the_sweep(
    make_settings: Callable[..., PointsSettings], tmp_path: Path
) -> None:
    app = create_app(crashing(make_settings, tmp_path, "none"))
    async with serve(app):
        service, mall = app.state.service, app.state.mall
        driver_id = await driver_with(service, 100)
        reward_id = await reward(mall, cost=10, stock=3)
        done = (await mall.reserve(driver_id, reward_id)).redemption
        await mall.fulfil(done.redemption_id, None, by="op", counter_id=None)
        # A stalled attempt for the same redemption wakes up, takes a unit and dies.
        assert await mall.steps.rewards.take(
            reward_id, done.redemption_id, uuid.uuid4().hex, datetime.now(UTC)
        )
        assert (await mall.catalogue.reward(reward_id)).stock == 1

        async def given_back() -> bool:
            unit = await mall.catalogue.reward(reward_id)
            return (unit.stock, unit.held, unit.issued) == (2, 0, 1)

        await wait_until(given_back, timeout=20)
        assert (await mall.redemption(done.redemption_id)).state == "fulfilled"
        assert await balance(service, driver_id) == 90
