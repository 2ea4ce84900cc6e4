"""One service per test module on the real broker and store (the security tests stay fast).

Like the ``run_id`` fixture, but for a module: its own topic prefix and database, the access
table's grants for the run, the dead-letter watchdog at the end, then everything dropped. Tests
of a module share the service, so each uses its own driver and station ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from fastapi import FastAPI

from common.settings import ServiceSettings
from common.testing import (
    Infra,
    dead_letters,
    drop_run,
    grant_run,
    revoke_run,
    unexpected_dead_letters,
    unique_name,
)
from tests.support import serve

S = TypeVar("S", bound=ServiceSettings)


@dataclass
class Running(Generic[S]):
    http: httpx.AsyncClient
    settings: S
    app: FastAPI


async def module_service(
    infra: Infra, settings_class: type[S], create_app: Callable[[S], FastAPI], **overrides: Any
) -> AsyncIterator[Running[S]]:
    run = unique_name("t")
    grants = await grant_run(infra, run)
    service = settings_class.model_fields["service_name"].default
    settings = settings_class(
        **{
            **infra.service_settings(service),
            "environment": "test",
            "kafka_bootstrap": infra.kafka_bootstrap,
            "mongo_url": infra.mongo_url,
            "topic_prefix": f"{run}.",
            "topic_partitions": 2,
            "mongo_db": f"{run}_{service}",
            "outbox_sweep_seconds": 0.5,
            "consumer_backoff_max_seconds": 1.0,
            **overrides,
        }
    )
    try:
        app = create_app(settings)
        async with serve(app) as http:
            yield Running(http, settings, app)
        report = unexpected_dead_letters(await dead_letters(infra.kafka_bootstrap, f"{run}."), None)
    finally:
        await drop_run(infra, run)
        await revoke_run(infra, grants)
    if report:
        raise AssertionError(report)
