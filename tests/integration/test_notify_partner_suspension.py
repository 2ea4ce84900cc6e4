"""A suspended partner gets nothing from notify, on the real broker and store: notify follows
``partners.events`` (it reads no partner topic, so nothing else told it), refuses the partner's
webhook subscriptions with 403 ``partner_suspended`` and sends its webhooks nowhere (each one
failed with the reason ``partner_suspended``); a reinstatement lifts both.

Each test is one finding: it failed on the code before the fix and passes after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.events.partners import PartnerReinstated, PartnerSuspended
from common.testing import Infra, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.integration.test_notify_delivery import (
    Receiver,
    audience_knows,
    awarded,
    emit,
    linked_and_consenting,
    notifications,
)
from tests.integration.test_points_partner_suspension import (
    BOOKING,
    announce,
    read_as,
    refused_as_suspended,
)
from tests.support import serve

Token = Callable[..., dict[str, str]]


def notify_settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(
        NotifySettings,
        dispatch_interval_seconds=0.1,
        webhook_backoff_initial_seconds=0.05,
        webhook_backoff_max_seconds=0.2,
        webhook_allowed_networks=["127.0.0.1/32"],
    )


async def test_a_suspended_partner_neither_subscribes_nor_lists_its_webhooks(
    infra: Infra, make_settings: Callable[..., NotifySettings], token: Token
) -> None:
    settings = notify_settings(make_settings)
    app = create_app(settings)
    partner = token("partner", partner_id=BOOKING)
    with Receiver() as hook:
        body = {"url": hook.url, "categories": ["points"]}
        async with serve(app) as http:
            made = await http.post("/v1/webhooks", json=body, headers=partner)
            directory = app.state.runtime.directory
            await announce(infra, settings, PartnerSuspended, 1)
            await wait_until(lambda: read_as(directory, "suspended"))
            refused = [
                await http.post("/v1/webhooks", json=body, headers=partner),
                await http.get("/v1/webhooks", headers=partner),
            ]
            operator = await http.get("/v1/webhooks", headers=token())
            await announce(infra, settings, PartnerReinstated, 2)
            await wait_until(lambda: read_as(directory, "active"))
            listed = await http.get("/v1/webhooks", headers=partner)
    assert made.status_code == 201, made.text
    assert all(refused_as_suspended(a) for a in refused), [a.text for a in refused]
    subscription = made.json()["subscription_id"]
    assert [s["subscription_id"] for s in operator.json()] == [subscription]
    assert listed.status_code == 200 and [s["subscription_id"] for s in listed.json()] == [
        subscription
    ], "the reinstatement lifts the refusal"


async def test_no_webhook_goes_to_a_suspended_partner_until_it_is_reinstated(
    infra: Infra, make_settings: Callable[..., NotifySettings], token: Token, mongo: Any
) -> None:
    settings = notify_settings(make_settings)
    app = create_app(settings)
    driver = unique_name("drv_")
    with Receiver() as hook:
        async with serve(app) as http:
            made = await http.post(
                "/v1/webhooks",
                json={"url": hook.url, "categories": ["points"]},
                headers=token("partner", partner_id=BOOKING),
            )
            assert made.status_code == 201, made.text
            for fact in linked_and_consenting(driver, BOOKING):
                await emit(infra, settings, "registry.events", fact)
            await wait_until(lambda: audience_knows(mongo, settings, driver), timeout=30)
            directory = app.state.runtime.directory
            await announce(infra, settings, PartnerSuspended, 1)
            await wait_until(lambda: read_as(directory, "suspended"))
            await emit(infra, settings, "points.events", awarded(driver, amount=8))

            async def settled(count: int) -> list[Any] | None:
                found = await notifications(
                    mongo,
                    settings,
                    driver_id=driver,
                    channel="webhook",
                    status={"$in": ["delivered", "failed"]},
                )
                return found if len(found) == count else None

            [held_back] = await wait_until(lambda: settled(1), timeout=30)
            sent_while_suspended = len(hook.requests)
            await announce(infra, settings, PartnerReinstated, 2)
            await wait_until(lambda: read_as(directory, "active"))
            await emit(infra, settings, "points.events", awarded(driver, amount=9))
            await wait_until(lambda: settled(2), timeout=30)
    assert sent_while_suspended == 0, "nothing reached the suspended partner"
    assert (held_back["status"], held_back["reason"]) == ("failed", "partner_suspended")
    assert len(hook.accepted()) == 1, "the reinstated partner gets what follows, not the backlog"
