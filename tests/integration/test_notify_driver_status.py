"""Notify follows a driver's status from registry.events: deactivated drivers hear nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest

from common.events import EventData, new_event
from common.events.registry import DriverDeactivated, DriverRegistered, DriverUpdated
from common.testing import Infra, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.support import approved, produce, serve

Headers = Callable[..., dict[str, str]]
FLEET = "梅山车队"


@pytest.fixture
def settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(NotifySettings, dispatch_interval_seconds=0.1)


async def emit(infra: Infra, settings: NotifySettings, driver: str, data: EventData) -> None:
    event = new_event(data, source="driverhome/registry", subject=driver)
    await produce(
        infra.kafka_bootstrap,
        settings.topic("registry.events"),
        event.to_bytes(),
        key=driver.encode(),
    )


async def active(mongo: Any, settings: NotifySettings, driver: str, expected: bool) -> bool:
    doc = await mongo[settings.mongo_db]["drivers"].find_one({"_id": driver})
    return doc is not None and doc.get("active") is expected


async def broadcast(
    http: httpx.AsyncClient, operator: dict[str, str], title: str, checker: dict[str, str]
) -> Any:
    answer = await http.post(
        "/v1/broadcasts",
        json={
            "category": "road_closure",
            "urgency": "urgent",
            "segment": {"kind": "fleet", "value": FLEET},
            "content": {"zh-CN": {"title": title, "body": "请留意。"}},
        },
        headers=operator,
    )
    # Urgent: it goes out once a second person approves it (four eyes).
    sent = await approved(http, answer, checker)
    bid = sent.json()["result"]["broadcast_id"]

    async def completed() -> Any:
        body = (await http.get(f"/v1/broadcasts/{bid}", headers=operator)).json()
        return body if body["status"] == "completed" else None

    return await wait_until(completed)


async def titles(http: httpx.AsyncClient, driver: str, token: Headers) -> list[str]:
    answer = await http.get(
        f"/v1/drivers/{driver}/inbox", headers=token("driver", driver_id=driver)
    )
    assert answer.status_code == 200, answer.text
    return [item["title"] for item in answer.json()["items"]]


async def test_a_deactivated_driver_gets_no_broadcasts_until_reactivated(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    leaving, staying = unique_name("drv_"), unique_name("drv_")
    now = datetime.now(UTC)
    operator = token("operator")
    async with serve(create_app(settings)) as http:
        for driver in (leaving, staying):
            await emit(
                infra,
                settings,
                driver,
                DriverRegistered(
                    driver_id=driver, channel="operator", registered_at=now, fleet=FLEET
                ),
            )
            await wait_until(partial(active, mongo, settings, driver, True))

        await emit(
            infra,
            settings,
            leaving,
            DriverDeactivated(driver_id=leaving, deactivated_at=now, reason="left the port"),
        )
        await wait_until(lambda: active(mongo, settings, leaving, False))
        first = await broadcast(http, operator, "梅山大桥封闭", token())
        assert first["progress"]["targeted"] == 1
        assert "梅山大桥封闭" in await titles(http, staying, token)
        assert "梅山大桥封闭" not in await titles(http, leaving, token)

        await emit(
            infra,
            settings,
            leaving,
            DriverUpdated(driver_id=leaving, changed_fields=["status"], updated_at=now),
        )
        await wait_until(lambda: active(mongo, settings, leaving, True))
        second = await broadcast(http, operator, "穿山疏港高速封闭", token())
        assert second["progress"]["targeted"] == 2
        assert "穿山疏港高速封闭" in await titles(http, leaving, token)


async def test_a_deactivation_notify_never_saw_a_registration_for_stays_inactive(
    infra: Infra, settings: NotifySettings, mongo: Any
) -> None:
    driver = unique_name("drv_")
    async with serve(create_app(settings)):
        await emit(
            infra,
            settings,
            driver,
            DriverDeactivated(driver_id=driver, deactivated_at=datetime.now(UTC), reason="x"),
        )
        await wait_until(lambda: active(mongo, settings, driver, False))
