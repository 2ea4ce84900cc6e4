from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common.runtime import readiness_checks, service_runtime
from common.webapp import create_service_app
from notify.api.routes import router
from notify.settings import NotifySettings


def create_app(
    settings: NotifySettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(settings, indexes=[], store=store, broker=broker) as runtime:
            app.state.runtime = runtime
            app.state.readiness = readiness_checks(runtime)
            yield

    return create_service_app(
        settings,
        title="driverhome notify",
        description="Templates, preferences, inbox, deliveries and broadcasts.",
        lifespan=lifespan,
        routers=[router],
    )
