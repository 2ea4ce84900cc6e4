"""A partner registered through the API, on the real secured broker: refused with a reason until
the platform provisions its topic and grants (make kafka-access), then its events are applied."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from common.access import AccessTable, delete_acls
from common.access_sync import catalogue_with_registered, provision, registered_partners
from common.testing import Infra, unique_name, wait_until
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from tests.integration.test_partners_gateway import SINGLE, Headers, receipt_says
from tests.support import approved, serve


@pytest.fixture
def secured(infra: Infra) -> Infra:
    if infra.credentials is None:
        pytest.skip("the broker under test has no authentication (no credentials file)")
    return infra


async def test_a_partner_registered_at_run_time_is_refused_until_provisioned_then_applied(
    secured: Infra, make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    assert secured.credentials is not None
    data = json.loads(secured.credentials.path.read_text())
    points_settings = make_settings(PointsSettings, kafka_metadata_max_age_seconds=1)
    gateway_settings = make_settings(PartnersSettings)
    partner_id = unique_name("canteen-").lower().replace("_", "-")
    driver = unique_name("drv_")
    async with AsyncExitStack() as stack:
        # Points holds the event for a driver it does not know: its receipt saying "parked"
        # shows points read the new partner's topic.
        await stack.enter_async_context(serve(points_app(points_settings)))
        gateway = await stack.enter_async_context(serve(partners_app(gateway_settings)))
        made = await gateway.post(
            "/v1/partners",
            json={
                "partner_id": partner_id,
                "name": "港区爱心食堂",
                "allowed_types": ["volunteer.logged.v1"],
            },
            headers=token(),
        )
        await approved(gateway, made, token())  # four eyes: a second person approves

        caller = token("partner", partner_id=partner_id, scope="events:write events:read")
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": "volunteer.logged.v1",
            "subject": driver,
            "time": "2026-12-03T08:15:00+08:00",
            "data": {"activity": "港区道路清洁", "hours": 2},
        }

        async def send() -> Any:
            return await gateway.post(
                "/v1/events", content=json.dumps(event), headers={**caller, **SINGLE}
            )

        early = await send()
        assert early.status_code == 503, early.text
        assert early.json()["reason"] == "partner_not_provisioned"
        assert int(early.headers["Retry-After"]) > 0

        # What make kafka-access does, under this run's topic prefix.
        registered, _ = await provision(data, None, gateway_settings)
        assert partner_id in registered
        assert registered[partner_id] == ["volunteer.logged.v1"]
        try:
            answer = await wait_until(lambda: _accepted(send), timeout=30)
            assert answer.json()["source"] == f"partner/{partner_id}"
            await wait_until(
                lambda: receipt_says(gateway, caller, event["id"], "parked"), timeout=60
            )
        finally:
            table = AccessTable.load(
                None,
                partners=catalogue_with_registered(
                    await registered_partners(data, gateway_settings.topic_prefix)
                ),
            )
            extra = [
                b
                for name, p in table.principals.items()
                if name == f"partner:{partner_id}" or name.startswith("service:")
                for b in p.bindings(gateway_settings.topic_prefix)
            ]
            admin = AIOKafkaAdminClient(**secured.client())
            await admin.start()
            try:
                await delete_acls(admin, extra)
            finally:
                await admin.close()


async def _accepted(send: Callable[[], Any]) -> Any:
    answer = await send()
    return answer if answer.status_code == 202 else None
