"""Handlers are dispatched by event class: a wrong class is caught when the consumer is wired."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.dispatch import check_typed, on, typed
from common.events import DOMAIN_EVENTS, PARTNER_EVENTS, CloudEvent, new_event
from common.events.points import GradeChanged, PointsAwarded
from common.events.registry import DriverRegistered

NOW = datetime(2026, 12, 3, tzinfo=UTC)


async def _ignore(data: object) -> None:
    return None


def test_a_handler_for_another_class_than_the_catalogue_parses_is_refused_at_wiring() -> None:
    wrong = {"points.awarded.v1": on(GradeChanged, _ignore)}
    with pytest.raises(ValueError, match=r"points\.awarded\.v1 is not parsed as GradeChanged"):
        check_typed(DOMAIN_EVENTS["points.events"], wrong)
    right = {"points.awarded.v1": on(PointsAwarded, _ignore)}
    check_typed(DOMAIN_EVENTS["points.events"], right)
    # The partner variant of driver.registered.v1 is another class than the registry's.
    with pytest.raises(ValueError, match="DriverRegistered"):
        check_typed(PARTNER_EVENTS, {"driver.registered.v1": on(DriverRegistered, _ignore)})


async def test_a_typed_handler_gets_its_class_and_refuses_any_other() -> None:
    seen: list[tuple[str, str]] = []

    async def handle(event: CloudEvent, data: DriverRegistered) -> None:
        seen.append((event.id, data.driver_id))

    data = DriverRegistered(driver_id="drv_1", channel="operator", registered_at=NOW)
    event = new_event(data, source="driverhome/registry", subject="drv_1", event_id="e1")
    handler = typed(DriverRegistered, handle)
    await handler(event, data)
    assert seen == [("e1", "drv_1")]
    other = GradeChanged(
        driver_id="drv_1",
        old_grade="A",
        new_grade="AA",
        earned_last_12_months=1,
        reasons=[],
        changed_at=NOW,
    )
    with pytest.raises(TypeError):
        await handler(event, other)
    assert len(seen) == 1
