"""Four eyes in points against a split adjustment, on the real store and broker: an operator with
``points:adjust`` alone cannot credit more than ``adjustment_approval_threshold`` points within
the window by sending many small adjustments, one after the other or at once; past the
threshold each further one waits for a second person, exactly as a single large one does.

Each test is one finding: it failed on the code before the fix and passes after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.clock import ManualClock
from common.testing import unique_name
from points.app import create_app
from points.settings import PointsSettings
from tests.security.test_four_eyes import balance, person
from tests.support import approved, serve

Token = Callable[..., dict[str, str]]


async def test_small_adjustments_past_the_threshold_wait_for_a_second_operator(
    make_settings: Callable[..., PointsSettings], token: Token
) -> None:
    clock = ManualClock(datetime.now(UTC))
    settings = make_settings(PointsSettings, adjustment_approval_threshold=500)
    app = create_app(settings, clock=clock)
    maker = person(token, "op-maker", "points:adjust")
    other = person(token, "op-other", "points:adjust")
    checker = person(token, "op-checker", "points:approve")
    driver, second = unique_name("drv_"), unique_name("drv_")
    async with serve(app) as http:
        for account in (driver, second):
            await app.state.service.open_account(account, datetime.now(UTC))
        url = f"/v1/accounts/{driver}/adjustments"

        async def adjust(amount: int, who: dict[str, str], key: str, to: str = url) -> Any:
            body = {"amount": amount, "reason": "补录积分"}
            return await http.post(to, json=body, headers={**who, "Idempotency-Key": key})

        split = [await adjust(500, maker, f"split-{n}") for n in range(20)]
        retried = await adjust(500, maker, "split-0")
        # Either sign counts, and every driver: it is the maker's total.
        deduction = await adjust(-1, maker, "deduct")
        elsewhere = await adjust(1, maker, "elsewhere", f"/v1/accounts/{second}/adjustments")
        # Another operator's own total is untouched (several colluding is four eyes' limit).
        by_other = await adjust(20, other, "other")
        alone = await balance(app, driver)
        # A second person approves one of the held back: it applies like a large one would.
        decided = await approved(http, split[1], checker)
        after_approval = await balance(app, driver)
        clock.advance(timedelta(hours=settings.adjustment_window_hours) - timedelta(minutes=1))
        within_window = await adjust(1, maker, "late")
        clock.advance(timedelta(minutes=2))
        next_window = await adjust(400, maker, "next")

    assert [a.status_code for a in split] == [201] + [202] * 19
    assert retried.status_code == 201, "the same request again is the same adjustment"
    assert retried.json()["entry_id"] == split[0].json()["entry_id"]
    assert (deduction.status_code, elsewhere.status_code) == (202, 202)
    assert by_other.status_code == 201
    assert alone == 500 + 20, "the maker alone credited the threshold, no more"
    assert decided.json()["result"]["amount"] == 500
    assert after_approval == alone + 500, "a second person's approval applies it once"
    assert within_window.status_code == 202
    assert next_window.status_code == 201, "the window rolls on"


class ReadTogether:
    """Holds each of the first ``n`` reads of ``owner.<name>`` until all ``n`` have read: the
    requests judge the same running total before either writes it."""

    def __init__(self, owner: Any, name: str, n: int = 2) -> None:
        self.owner, self.name, self.n = owner, name, n
        self.real = getattr(owner, name)
        self.reads = 0
        self.all_read = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = await self.real(*args, **kwargs)
        if self.reads < self.n:
            self.reads += 1
            if self.reads == self.n:
                self.all_read.set()
            await asyncio.wait_for(self.all_read.wait(), timeout=10)
        return result

    def __enter__(self) -> ReadTogether:
        setattr(self.owner, self.name, self)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.real)


@pytest.mark.parametrize(
    ("before", "each"),
    [(0, 300), (100, 250)],
    # The maker's first adjustments (their counter is created), and later ones (it is updated).
    ids=["first-of-the-window", "after-another"],
)
async def test_two_adjustments_at_once_that_together_pass_the_threshold_do_not_both_apply(
    make_settings: Callable[..., PointsSettings], token: Token, before: int, each: int
) -> None:
    app = create_app(make_settings(PointsSettings, adjustment_approval_threshold=500))
    maker = person(token, "op-maker", "points:adjust")
    driver = unique_name("drv_")
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        url = f"/v1/accounts/{driver}/adjustments"
        if before:
            earlier = await http.post(
                url, json={"amount": before, "reason": "补录积分"}, headers=maker
            )
            assert earlier.status_code == 201, earlier.text
        with ReadTogether(app.state.maker_totals, "current"):
            both = await asyncio.gather(
                *(
                    http.post(url, json={"amount": each, "reason": f"补录积分{n}"}, headers=maker)
                    for n in range(2)
                )
            )
        final = await balance(app, driver)
    assert sorted(a.status_code for a in both) == [201, 202], [a.text for a in both]
    assert final == before + each
