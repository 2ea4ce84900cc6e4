"""A driver erased by another replica of the same service, within the time a process keeps its
list of erased drivers in memory: an event about them read by this replica stores nothing that
outlives the erasure (common.erased_drivers, "forget"). Notify on the real broker and store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from common.erased_drivers import ErasedDrivers
from common.erasure import keyed_pseudonym
from common.events import new_event
from common.events.points import PointsAwarded
from common.testing import Infra, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.support import produce, serve


async def test_an_award_about_a_driver_another_replica_erased_leaves_no_notification(
    make_settings: Callable[..., NotifySettings], infra: Infra, mongo: Any
) -> None:
    settings = make_settings(NotifySettings)
    notifications = mongo[settings.mongo_db]["notifications"]
    key = unique_name("key-").encode()  # one partition: read in the order sent

    async def award(driver: str) -> None:
        data = PointsAwarded(
            driver_id=driver,
            entry_id=unique_name("ent_"),
            amount=5,
            balance_after=5,
            rule_id="volunteer",
            cause_source="partner/volunteer-team",
            cause_id=unique_name("e"),
            cause_type="volunteer.logged.v1",
            awarded_at=datetime.now(UTC),
        )
        event = new_event(data, source="driverhome/points", subject=driver)
        await produce(
            infra.kafka_bootstrap, settings.topic("points.events"), event.to_bytes(), key=key
        )

    def notified(driver: str) -> Callable[[], Any]:
        async def check() -> bool:
            return bool(await notifications.count_documents({"driver_id": driver}) > 0)

        return check

    before, erased, after = (unique_name("drv_") for _ in range(3))
    async with serve(create_app(settings)):
        # This replica reads its list of erased drivers with the first event.
        await award(before)
        await wait_until(notified(before), timeout=30)
        # Another replica erases a driver now: this one's list in memory does not know.
        elsewhere = ErasedDrivers(mongo[settings.mongo_db], keyed_pseudonym(settings.pii_hmac_key))
        await elsewhere.add(erased)
        await award(erased)
        await award(after)
        await wait_until(notified(after), timeout=30)

        async def forgotten() -> bool:
            return bool(await notifications.count_documents({"driver_id": erased}) == 0)

        await wait_until(forgotten, timeout=10)
