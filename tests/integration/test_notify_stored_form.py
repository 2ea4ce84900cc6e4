"""Notify's stored form on the real store: an inbox item delivered at once stores only what
differs from the defaults (store/notifications.py, "Stored form"), and every reader — the
inbox, its filters, the delivery tracking — answers as if the defaults were stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from common.testing import Infra, unique_name, wait_until
from notify.app import create_app
from notify.settings import NotifySettings
from tests.integration.test_notify_delivery import (
    Headers,
    awarded,
    emit,
    inbox,
    nonempty,
    notifications,
)
from tests.support import serve

# What an inbox item announced from its own outbox and delivered at once keeps; every other field
# (holds, lease, attempts, read and archive marks, the history of one state) is at its default.
STORED = {
    "_id",
    "driver_id",
    "source",
    "source_id",
    "kind",
    "channel",
    "channel_key",
    "category",
    "language",
    "title",
    "body",
    "status",
    "created_at",
    "delivered_at",
}


@pytest.fixture
def settings(make_settings: Callable[..., NotifySettings]) -> NotifySettings:
    return make_settings(NotifySettings, dispatch_interval_seconds=0.1)


async def test_an_inbox_item_stores_no_defaults_and_reads_as_before(
    infra: Infra, settings: NotifySettings, mongo: Any, token: Headers
) -> None:
    driver = unique_name("drv_")
    me = token("driver", driver_id=driver)
    async with serve(create_app(settings)) as http:
        await emit(infra, settings, "points.events", awarded(driver, amount=7))
        page = await wait_until(lambda: nonempty(inbox(http, driver, token)))
        item = page["items"][0]
        assert (item["urgent"], item["read"], item["archived"]) == (False, False, False)
        assert page["unread"] == 1

        stored = (await notifications(mongo, settings, driver_id=driver, channel="inbox"))[0]
        # The outbox and its mark go once the announcement is out.
        kept = set(stored) - {"outbox", "outbox_pending"}
        assert kept == STORED, sorted(kept ^ STORED)
        assert not stored.get("outbox")

        tracked = await http.get(f"/v1/notifications/{item['notification_id']}", headers=me)
        assert tracked.status_code == 200, tracked.text
        view = tracked.json()
        assert (view["urgent"], view["collapsed"], view["attempts"], view["reason"]) == (
            False,
            False,
            0,
            None,
        )
        # Its history is its one state, from when it was made.
        assert [(h["status"], h["at"]) for h in view["history"]] == [
            ("delivered", view["created_at"])
        ]

        path = f"/v1/drivers/{driver}/inbox/{item['notification_id']}"
        read = await http.post(f"{path}/read", headers=me)
        assert read.status_code == 200 and read.json()["read"] is True, read.text
        assert (await inbox(http, driver, token, unread="true"))["items"] == []
        assert (await inbox(http, driver, token))["unread"] == 0
        await http.post(f"{path}/unread", headers=me)
        unread = await inbox(http, driver, token, unread="true")
        assert [i["notification_id"] for i in unread["items"]] == [item["notification_id"]]

        assert (await inbox(http, driver, token, archived="true"))["items"] == []
        archived = await http.post(f"{path}/archive", headers=me)
        assert archived.status_code == 200 and archived.json()["archived"] is True
        assert (await inbox(http, driver, token))["items"] == []
        shelf = await inbox(http, driver, token, archived="true")
        assert [i["notification_id"] for i in shelf["items"]] == [item["notification_id"]]
