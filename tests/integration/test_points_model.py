"""A stateful property test: the ledger against a plain model of the points rules.

Awards (delivered out of order and duplicated), debits, reversals and expiry are applied to the
real service on the real store; after every step the balance matches the model, equals the sum
of the ledger's entries and is never negative.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from common.events import CloudEvent, new_event
from common.events.partner import VolunteerLogged
from common.testing import unique_name
from points.app import create_app
from points.domain import month_of, months_back
from points.earning import Earning
from points.settings import PointsSettings

START = datetime(2026, 1, 5, tzinfo=UTC)


def test_the_ledger_matches_a_simple_model_under_any_sequence(
    make_settings: Callable[..., PointsSettings],
) -> None:
    run_model(make_settings, examples=int(os.environ.get("DRIVERHOME_MODEL_EXAMPLES", "6")))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_ledger_matches_the_model_over_a_long_soak(
    make_settings: Callable[..., PointsSettings],
) -> None:
    run_model(make_settings, examples=60, steps=30)


def run_model(
    make_settings: Callable[..., PointsSettings], *, examples: int, steps: int = 15
) -> None:
    clock = [START]
    app = create_app(make_settings(PointsSettings, expiry_months=3), clock=lambda: clock[0])
    loop = asyncio.new_event_loop()

    async def start() -> LifespanManager:
        manager = LifespanManager(app, startup_timeout=60)
        await manager.__aenter__()
        return manager

    manager = loop.run_until_complete(start())
    service = app.state.service

    class LedgerModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.driver = unique_name("drv_")
            self.balance = 0
            self.earned: dict[str, int] = {}
            self.debited = 0
            self.undelivered: list[CloudEvent] = []
            self.delivered: list[CloudEvent] = []
            self.awards: dict[str, tuple[str, int]] = {}  # entry id -> (month, amount)
            self.reversed: set[str] = set()
            self.day = 0
            self.requests = 0
            clock[0] = START

        def run(self, coro: Any) -> Any:
            return loop.run_until_complete(coro)

        @initialize()
        def open_account(self) -> None:
            self.run(service.open_account(self.driver, clock[0]))

        @rule(hours=st.integers(min_value=1, max_value=6))
        def a_partner_logs_volunteer_hours(self, hours: int) -> None:
            # Dated on days of their own, ahead of or behind when points receives them.
            self.day += 1
            moment = clock[0] + timedelta(days=self.day % 25)
            self.undelivered.append(
                new_event(
                    VolunteerLogged(
                        driver_id=self.driver, activity="志愿服务", hours=hours, logged_at=moment
                    ),
                    source="partner/volunteer-team",
                    subject=self.driver,
                    time=moment,
                )
            )

        @precondition(lambda self: self.undelivered)
        @rule(data=st.data())
        def any_pending_event_is_delivered(self, data: st.DataObject) -> None:
            event = self.undelivered.pop(data.draw(st.integers(0, len(self.undelivered) - 1)))
            # Caps count by the day points receives an event: one delivery a day, so the daily
            # cap never decides.
            clock[0] = clock[0] + timedelta(days=1)
            entry = self.run(service.earn(Earning.of(event)))
            amount = 10 * int(event.data["hours"])
            assert entry.state == "applied"
            self.balance += amount
            # Counted (for expiry and grades) in the month points received it, not its own.
            month = month_of(clock[0])
            self.earned[month] = self.earned.get(month, 0) + amount
            self.awards[entry.entry_id] = (month, amount)
            self.delivered.append(event)

        @precondition(lambda self: self.delivered)
        @rule(data=st.data())
        def a_delivered_event_arrives_again(self, data: st.DataObject) -> None:
            event = data.draw(st.sampled_from(self.delivered))
            self.run(service.earn(Earning.of(event)))

        @rule(amount=st.integers(min_value=1, max_value=80))
        def points_are_spent(self, amount: int) -> None:
            self.requests += 1
            entry = self.run(
                service.adjust(
                    self.driver,
                    -amount,
                    operator="op",
                    reason="兑换",
                    request_id=str(self.requests),
                )
            )
            if self.balance >= amount:
                assert entry.state == "applied"
                self.balance -= amount
                self.debited += amount
            else:
                assert entry.state == "rejected"

        @precondition(lambda self: self.awards)
        @rule(data=st.data(), times=st.integers(min_value=1, max_value=3))
        def an_award_is_reversed_perhaps_repeatedly(self, data: st.DataObject, times: int) -> None:
            entry_id = data.draw(st.sampled_from(sorted(self.awards)))
            for _ in range(times):
                result = self.run(service.reverse(entry_id, operator="op", reason="更正"))
            if entry_id in self.reversed:
                return
            self.reversed.add(entry_id)
            month, amount = self.awards[entry_id]
            taken = min(amount, self.balance)
            if taken > 0:
                assert result.state == "applied"
                self.balance -= taken
                self.earned[month] -= taken

        @rule(months=st.integers(min_value=1, max_value=3))
        def time_passes_and_expiry_runs(self, months: int) -> None:
            clock[0] = clock[0] + timedelta(days=31 * months)
            through = months_back(month_of(clock[0]), 3 + 1)
            self.run(service.expire_all())
            awarded = sum(v for m, v in self.earned.items() if m <= through)
            expiring = max(0, min(self.balance, awarded - self.debited))
            self.balance -= expiring
            self.debited += expiring

        @invariant()
        def balances_match_the_model_and_the_ledger(self) -> None:
            account = self.run(service.get_account(self.driver))
            assert account.balance == self.balance
            assert account.balance >= 0
            total = self.run(service.ledger.entries.sum_applied(self.driver))
            assert total == account.balance

    LedgerModel.TestCase.settings = settings(
        # Small by default to keep `make test` short; the slow soak runs many more.
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    try:
        LedgerModel.TestCase().runTest()
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()
