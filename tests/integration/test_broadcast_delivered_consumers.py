"""Consumers of ``notification.broadcast_delivered.v1`` (issue 19), on the real broker.

The registry is the one service reading ``notify.events`` (for notify's erasure confirmations):
a broadcast's page announcements must pass it by as known types it skips, never as poison in
its dead-letter topic. Without the type in the catalogue they would be dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from common.testing import Infra, wait_until
from notify.page_announcements import page_delivered_entry
from notify.records import delivered_entry
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.support import produce, serve


def consumed(settings: RegistrySettings, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "driverhome_events_consumed_total",
        {
            "service": "registry",
            "group": f"{settings.topic_prefix}registry",
            "topic": settings.topic("notify.events"),
            "outcome": outcome,
        },
    )
    return value or 0.0


async def test_the_registry_skips_a_broadcasts_page_announcements_without_dead_letters(
    infra: Infra, make_settings: Callable[..., RegistrySettings]
) -> None:
    settings = make_settings(RegistrySettings)
    now = datetime.now(UTC)
    inbox: list[dict[str, Any]] = [
        {"_id": f"ntf_{i}", "driver_id": f"drv_{i}", "category": "policy", "delivered_at": now}
        for i in range(3)
    ]
    pages = [page_delivered_entry("brd_1", n, inbox[n:]) for n in range(2)]
    single = delivered_entry({**inbox[0], "channel": "webhook"}, now)
    async with serve(create_app(settings)):
        for entry in (*pages, single):
            await produce(
                infra.kafka_bootstrap,
                settings.topic(entry["topic"]),
                bytes(entry["payload"]),
                key=entry["key"].encode(),
            )

        async def all_skipped() -> bool:
            return consumed(settings, "skipped") >= len(pages) + 1

        await wait_until(all_skipped, timeout=30)
    assert consumed(settings, "dlq") == 0, "a known type is skipped, not dead-lettered"
