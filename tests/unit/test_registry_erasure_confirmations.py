"""A service's erasure confirmation counts only for that service. The bus checks who writes a
topic, not what a payload says: a confirmation on points' topic naming notify would otherwise
mark notify's part of an erasure done without notify ever confirming it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.events import InvalidEvent, new_event
from common.events.erasure import ErasureCompleted
from common.events.points import PointsErasureCompleted
from registry.erasure_receipts import ErasureReceipts
from registry.handlers.erasure import ErasureHandlers


class Recording(ErasureReceipts):
    """The receipts use case, recording which services it was told confirmed."""

    def __init__(self) -> None:
        self.services: list[str] = []

    async def confirmed(self, data: ErasureCompleted) -> None:
        self.services.append(data.service)


async def confirm_on_points_topic(service: str) -> Recording:
    receipts = Recording()
    handler = ErasureHandlers(receipts).handlers("points.events")["points.erasure_completed.v1"]
    data = PointsErasureCompleted(
        driver_id="drv_erased", service=service, completed_at=datetime(2026, 12, 6, tzinfo=UTC)
    )
    await handler(new_event(data, source="driverhome/points", subject="drv_erased"), data)
    return receipts


async def test_a_confirmation_on_a_services_own_topic_counts_for_it() -> None:
    assert (await confirm_on_points_topic("points")).services == ["points"]


@pytest.mark.parametrize("named", ["notify", "cases", "points.x", "$set"])
async def test_a_confirmation_naming_another_service_is_dead_lettered_and_counts_for_none(
    named: str,
) -> None:
    with pytest.raises(InvalidEvent) as refused:
        await confirm_on_points_topic(named)
    assert refused.value.reason == "wrong_service"
