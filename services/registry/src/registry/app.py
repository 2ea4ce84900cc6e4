from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common.pii import PiiProtector
from common.runtime import readiness_checks, service_runtime
from common.webapp import create_service_app
from registry.api.routes import router
from registry.service import RegistryService
from registry.settings import RegistrySettings
from registry.store.drivers import DRIVERS, INDEXES, DriverStore


def create_app(
    settings: RegistrySettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings, indexes=INDEXES, outbox_collections=[DRIVERS], store=store, broker=broker
        ) as runtime:
            app.state.runtime = runtime
            app.state.service = RegistryService(
                DriverStore(runtime.db),
                PiiProtector(settings.pii_key, settings.pii_hmac_key),
                runtime.relay,
            )
            app.state.readiness = readiness_checks(runtime)
            yield

    return create_service_app(
        settings,
        title="driverhome registry",
        description="The driver register: drivers, vehicles, fleets, consents, census.",
        lifespan=lifespan,
        routers=[router],
    )
