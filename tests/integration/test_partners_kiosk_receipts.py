"""A kiosk's service use sent through the gateway: stations counts it, and the kiosk's receipt
says so (learnt from the cause that ``service.used.v1`` on ``stations.events`` now carries)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from common.events import new_event
from common.events.registry import DriverRegistered
from common.testing import Infra, unique_name, wait_until
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.integration.stations_harness import BEILUN
from tests.integration.test_partners_gateway import SINGLE, Headers, receipt_says
from tests.support import produce, serve

SHANGHAI = timezone(timedelta(hours=8))


async def test_a_kiosk_use_counted_by_stations_is_applied_on_the_kiosks_receipt(
    make_settings: Callable[..., Any], token: Headers, infra: Infra, mongo: Any
) -> None:
    stations_settings = make_settings(StationsSettings)
    async with AsyncExitStack() as stack:
        stations = await stack.enter_async_context(serve(stations_app(stations_settings)))
        gateway = await stack.enter_async_context(
            serve(partners_app(make_settings(PartnersSettings)))
        )
        station_id = unique_name("stn_")
        made = await stations.post(
            "/v1/stations",
            json={
                "station_id": station_id,
                "name": "霞浦集卡司机之家",
                "kind": "drivers_home",
                "operator_org": "北仑区交通运输行业党委",
                "address": "宁波市北仑区霞浦街道",
                "location": {"lat": BEILUN[0], "lng": BEILUN[1]},
                "hours": {"always_open": True},
                "capacity": {"beds": 10, "parking": 20, "showers": 4},
                "services": [{"code": "shower"}],
                "kiosk_partners": ["station-kiosk"],
            },
            headers=token(),
        )
        assert made.status_code == 201, made.text
        driver_id = unique_name("drv_")
        registered = new_event(
            DriverRegistered(
                driver_id=driver_id, channel="operator", registered_at=datetime.now(UTC)
            ),
            source="driverhome/registry",
            subject=driver_id,
        )
        await produce(
            infra.kafka_bootstrap,
            stations_settings.topic("registry.events"),
            registered.to_bytes(),
            key=driver_id.encode(),
        )
        drivers = mongo[stations_settings.mongo_db]["drivers"]
        await wait_until(lambda: drivers.find_one({"_id": driver_id}))

        kiosk = token("partner", partner_id="station-kiosk", scope="events:write events:read")
        # An hour ago, in the district's time: within what stations accepts of a kiosk's time.
        used_at = (datetime.now(SHANGHAI) - timedelta(hours=1)).replace(microsecond=0).isoformat()
        use = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": "service.used.v1",
            "subject": driver_id,
            "time": used_at,
            "data": {
                "station_id": station_id,
                "service_code": "shower",
                "used_at": used_at,
                "kiosk_id": "kiosk-xp-01",
            },
        }
        sent = await gateway.post(
            "/v1/events", content=json.dumps(use), headers={**kiosk, **SINGLE}
        )
        assert sent.status_code == 202, sent.text
        receipt = await wait_until(
            lambda: receipt_says(gateway, kiosk, use["id"], "applied"), timeout=60
        )
    (applied,) = receipt["applied"]
    assert applied["by"] == "stations" and applied["type"] == "service.used.v1"
    assert applied["driver_id"] == driver_id and applied["checkin_id"].startswith("ci")
