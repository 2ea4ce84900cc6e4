"""What the console's broadcast composer asks notify, on the real broker and store: how many
drivers a broadcast would reach (the count the broadcast then targets; consent for marketing)
and the deliveries that failed, with their reason and the driver masked; both refused without
notify:broadcast."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from common.events.registry import DriverUpdated
from common.testing import Infra, synthetic_phone, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.integration.test_notify_delivery import Headers, _event, emit, registered
from tests.support import serve


async def test_the_composer_counts_the_audience_it_then_reaches_and_lists_failures(
    infra: Infra, make_settings: Callable[..., NotifySettings], mongo: Any, token: Headers
) -> None:
    # No SMS gateway configured: an SMS fails at once, for good, with its reason.
    settings = make_settings(NotifySettings, dispatch_interval_seconds=0.1)
    fleet, other = unique_name("fleet_"), unique_name("fleet_")
    consenting, texting, elsewhere = (unique_name("drv_") for _ in range(3))
    editor = token(roles=["notify_editor"])
    facts = mongo[settings.mongo_db]["drivers"]
    async with serve(create_app(settings)) as http:
        for driver, in_fleet in ((consenting, fleet), (texting, fleet), (elsewhere, other)):
            await emit(infra, settings, "registry.events", registered(driver, fleet=in_fleet))
        consent = DriverUpdated(
            driver_id=consenting,
            changed_fields=["consents.notifications"],
            updated_at=datetime.now(UTC),
            consents={"notifications": True},
        )
        await emit(
            infra, settings, "registry.events", _event(consent, consenting, "driverhome/registry")
        )
        await http.put(
            f"/v1/drivers/{texting}/preferences",
            json={"sms_phone": synthetic_phone(), "channels": {"policy": ["inbox", "sms"]}},
            headers=token("driver", driver_id=texting),
        )

        async def known() -> bool:
            granted = {"_id": consenting, "consents.notifications": True}
            return await facts.count_documents({}) == 3 and bool(await facts.find_one(granted))

        await wait_until(known)

        async def audience(category: str, segment: dict[str, Any]) -> dict[str, Any]:
            body = {"category": category, "segment": segment}
            answer = await http.post("/v1/broadcasts/audience", json=body, headers=editor)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        to_fleet = {"kind": "fleet", "value": fleet}
        assert await audience("policy", to_fleet) == {
            "recipients": 2,
            "in_segment": 2,
            "consent_needed": False,
        }
        # A marketing category reaches only the driver who gave the notifications consent.
        assert await audience("general", to_fleet) == {
            "recipients": 1,
            "in_segment": 2,
            "consent_needed": True,
        }
        assert (await audience("policy", {"kind": "everyone"}))["recipients"] == 3

        content = {"zh-CN": {"title": "台风预警", "body": "请注意防范。"}}
        made = await http.post(
            "/v1/broadcasts",
            json={"category": "policy", "segment": to_fleet, "content": content},
            headers=editor,
        )
        bid = made.json()["broadcast_id"]

        async def failed() -> httpx.Response | None:
            answer = await http.get(
                "/v1/deliveries/failed", params={"broadcast_id": bid}, headers=editor
            )
            assert answer.status_code == 200, answer.text
            return answer if answer.json()["items"] else None

        listing = await wait_until(failed)
        [failure] = listing.json()["items"]
        done = (await http.get(f"/v1/broadcasts/{bid}", headers=editor)).json()
        refused = [
            await http.post(
                "/v1/broadcasts/audience",
                json={"category": "policy", "segment": to_fleet},
                headers=token(roles=["points_admin"]),
            ),
            await http.get("/v1/deliveries/failed", headers=token("driver", driver_id=texting)),
        ]
    # The count said two; the broadcast targeted those two.
    assert done["progress"]["targeted"] == 2
    assert (failure["channel"], failure["reason"]) == ("sms", "sms_gateway_not_configured")
    assert failure["broadcast_id"] == bid and failure["category"] == "policy"
    assert failure["driver"] != texting and "*" in failure["driver"]
    assert texting[:4] == failure["driver"][:4]
    assert texting not in listing.text  # nowhere in the answer, not in an id either
    assert [r.status_code for r in refused] == [403, 403]
    assert "notify:broadcast" in refused[0].json()["detail"]
