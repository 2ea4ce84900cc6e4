from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common.idempotency import ProcessedEvents
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app
from points.api.routes import router
from points.handlers.registry import RegistryHandlers
from points.service import PointsService
from points.settings import PointsSettings
from points.store.accounts import INDEXES, PROCESSED, AccountStore


def create_app(
    settings: PointsSettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    services: dict[str, PointsService] = {}

    def wire(runtime: Runtime) -> None:
        service = PointsService(AccountStore(runtime.db))
        services["points"] = service
        registry = RegistryHandlers(service, ProcessedEvents(runtime.db[PROCESSED]), runtime.faults)
        runtime.consumer("points").domain(
            "registry.events", {"driver.registered.v1": registry.on_driver_registered}
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings, indexes=INDEXES, wire=wire, store=store, broker=broker
        ) as runtime:
            app.state.runtime = runtime
            app.state.service = services["points"]
            app.state.readiness = readiness_checks(runtime)
            yield

    return create_service_app(
        settings,
        title="driverhome points",
        description="Points accounts, the ledger, earning rules, credit grades and the mall.",
        lifespan=lifespan,
        routers=[router],
    )
