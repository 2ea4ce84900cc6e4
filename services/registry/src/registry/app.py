from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common.idempotency import ProcessedEvents
from common.pii import PiiProtector
from common.problems import problem_response
from common.requests import IdempotentRequests
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app
from registry.api.routes import routers
from registry.domain import Conflict, InvalidDriverData, NotFound, RegistryError
from registry.handlers.partner import PartnerHandlers
from registry.service import RegistryService, Stores
from registry.settings import RegistrySettings
from registry.store import ALL_INDEXES, IDEMPOTENCY_KEYS, PROCESSED
from registry.store.access_log import AccessLog
from registry.store.campaigns import CampaignStore
from registry.store.drivers import DRIVERS, DriverStore
from registry.store.fleets import FleetStore
from registry.store.grids import GridStore
from registry.store.organisations import OrganisationStore
from registry.store.reviews import ReviewStore
from registry.store.vehicles import VehicleStore

Document = dict[str, Any]


def build_service(
    db: AsyncDatabase[Document], settings: RegistrySettings, runtime: Runtime | None = None
) -> RegistryService:
    """The use cases over a database (the app, the demo loader and the bench use this)."""
    stores = Stores(
        drivers=DriverStore(db),
        vehicles=VehicleStore(db),
        fleets=FleetStore(db),
        grids=GridStore(db),
        organisations=OrganisationStore(db),
        campaigns=CampaignStore(db),
        reviews=ReviewStore(db),
        access_log=AccessLog(db),
        idempotency_keys=db[IDEMPOTENCY_KEYS],
    )
    return RegistryService(
        stores,
        PiiProtector(settings.pii_key, settings.pii_hmac_key),
        runtime.relay if runtime else None,
    )


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    if isinstance(exc, InvalidDriverData):
        return problem_response(
            request,
            422,
            "Unprocessable Content",
            exc.message,
            errors=[{"loc": ["body", exc.field], "msg": exc.message}],
        )
    if isinstance(exc, NotFound):
        return problem_response(request, 404, "Not Found", str(exc))
    if isinstance(exc, Conflict):
        return problem_response(
            request, 409, "Conflict", exc.message, type_=f"urn:driverhome:registry:{exc.code}"
        )
    return problem_response(request, 400, "Bad Request", str(exc))


def create_app(
    settings: RegistrySettings,
    *,
    store: AsyncDatabase[Document] | None = None,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    services: dict[str, RegistryService] = {}

    def wire(runtime: Runtime) -> None:
        # The relay starts after wiring; the service reads it lazily through the runtime.
        service = build_service(runtime.db, settings, runtime)
        services["registry"] = service
        partner = PartnerHandlers(service, ProcessedEvents(runtime.db[PROCESSED]), runtime.faults)
        runtime.consumer("registry").partners(
            {"driver.registered.v1": partner.on_driver_registered}
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings,
            indexes=ALL_INDEXES,
            outbox_collections=[DRIVERS],
            wire=wire,
            store=store,
            broker=broker,
        ) as runtime:
            service = services["registry"]
            service.use_relay(runtime.relay)
            await service.finish_pending_erasures()
            app.state.runtime = runtime
            app.state.service = service
            app.state.requests = IdempotentRequests(runtime.db[IDEMPOTENCY_KEYS])
            app.state.readiness = readiness_checks(runtime)
            yield

    app = create_service_app(
        settings,
        title="driverhome registry",
        description=(
            "The driver register: drivers, vehicles and port passes, fleets, grids, "
            "organisations and memberships, family, consents, census, partner registrations."
        ),
        lifespan=lifespan,
        routers=routers,
    )
    app.add_exception_handler(RegistryError, _on_domain_error)
    return app
