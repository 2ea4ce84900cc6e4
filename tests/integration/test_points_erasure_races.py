"""Points against an erasure or a consent withdrawal landing while an award or a redemption is
under way: nothing stored about an erased driver outlives the erasure, and no award is
credited over a withdrawn consent. One points app on the real broker and store per test; the
use cases are called with an account read from before the change, as a racing handler holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.events import new_event
from common.events.cases import CaseCompensationGranted
from common.testing import unique_name
from points.app import create_app
from points.consents import EarningConsent
from points.domain import AccountNotActive
from points.earning import Earning
from points.settings import PointsSettings
from tests.integration.test_points_ledger import volunteer
from tests.integration.test_points_mall import add_reward, driver_with, parts
from tests.support import serve


async def test_a_compensation_or_an_award_about_a_driver_erased_meanwhile_leaves_nothing_parked(
    make_settings: Callable[..., PointsSettings],
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app):
        service = app.state.service
        erased, control = unique_name("drv_"), unique_name("drv_")
        for driver in (erased, control):
            await service.open_account(driver, datetime.now(UTC))
        before = await service.accounts.raw(erased)
        await service.deactivate(erased, erased=True)
        granted = CaseCompensationGranted(
            compensation_id=unique_name("cmp-"),
            case_id="C20261201-0001",
            driver_id=erased,
            kind="goodwill",
            amount=20,
            approved_by="supervisor-1",
            granted_at=datetime.now(UTC),
        )
        compensation = new_event(granted, source="driverhome/cases", subject=erased)
        await service.earn_or_park(Earning.of(compensation))
        # The award's handler read the account before the erasure closed it.
        await service.earn_or_park(Earning.of(volunteer(erased)), account=before)
        await service.deactivate(control, erased=False)  # frozen, not erased: parked and kept
        await service.earn_or_park(Earning.of(volunteer(control)))
        parked = {doc["driver_id"] async for doc in service.parked.collection.find({})}
    assert erased not in parked
    assert control in parked


async def test_an_award_planned_before_a_consent_withdrawal_is_not_credited(
    make_settings: Callable[..., PointsSettings], mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    app = create_app(settings)
    async with serve(app):
        service = app.state.service
        driver = unique_name("drv_")
        await service.open_account(driver, datetime.now(UTC))
        seen = await service.accounts.raw(driver)  # the consent check's read: not paused
        await EarningConsent(mongo[settings.mongo_db]).follow(
            driver, {"points": False}, datetime.now(UTC)
        )
        entry = await service.earn_or_park(Earning.of(volunteer(driver)), account=seen)
        account = await service.get_account(driver)
    assert entry is not None and entry.state == "rejected"
    assert account.balance == 0


async def test_a_redemption_refused_by_an_erasure_keeps_no_driver_id(
    make_settings: Callable[..., PointsSettings],
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app):
        service, mall = parts(app)
        driver = await driver_with(service, 100)
        reward = await add_reward(mall, cost=30, stock=5)
        stale = await service.get_account(driver)
        await service.deactivate(driver, erased=True)
        real_get = service.get_account

        async def read_before_the_erasure(wanted: str) -> Any:
            return stale if wanted == driver else await real_get(wanted)

        service.get_account = read_before_the_erasure  # type: ignore[method-assign]
        try:
            with pytest.raises(AccountNotActive):
                await mall.reserve(driver, reward)
        finally:
            service.get_account = real_get  # type: ignore[method-assign]
        kept = await mall.steps.redemptions.collection.count_documents({"driver_id": driver})
    assert kept == 0, "the refused redemption names the driver's pseudonym, not the id"


async def test_a_registration_replayed_after_a_deactivation_does_not_thaw_the_account(
    make_settings: Callable[..., PointsSettings],
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app):
        service = app.state.service
        driver = unique_name("drv_")
        registered_at = datetime.now(UTC) - timedelta(days=3)
        await service.open_account(driver, registered_at)
        await service.deactivate(
            driver, erased=False, announced_at=registered_at + timedelta(days=1)
        )
        await service.open_account(driver, registered_at)  # replayed from its dead-letter queue
        account = await service.get_account(driver)
    assert account.status == "frozen"
