from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common.approvals import INDEXES as APPROVAL_INDEXES
from common.approvals import four_eyes
from common.approvals_api import router as approvals_router
from common.dlq_api import router as dlq_router
from common.faults import Faults
from common.idempotency import ProcessedEvents
from common.outbox import RelayRef, no_relay
from common.pii import PiiProtector
from common.requests import keep_requests
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app
from registry.api.census_routes import router as census_router
from registry.api.consent_requests_routes import router as consent_requests_router
from registry.api.consent_routes import router as consent_router
from registry.api.district_routes import router as district_router
from registry.api.drivers_routes import router as drivers_router
from registry.api.erasure_routes import router as erasure_router
from registry.api.errors import ERRORS
from registry.api.oversight_routes import router as oversight_router
from registry.api.partner_links_routes import router as partner_links_router
from registry.api.people_erasure_routes import router as people_erasure_router
from registry.api.survey_routes import router as survey_router
from registry.api.units_routes import router as units_router
from registry.api.vehicles_routes import router as vehicles_router
from registry.erasure_receipts import ErasureReceipts
from registry.four_eyes import registry_areas
from registry.handlers.erasure import CONFIRMING_TOPICS, ErasureHandlers
from registry.handlers.partner import PartnerHandlers
from registry.handlers.stations import StationHandlers
from registry.retention import retention_rules
from registry.service import Registry, Stores
from registry.settings import RegistrySettings
from registry.store import ALL_INDEXES, IDEMPOTENCY_KEYS, PROCESSED, erasure_receipts
from registry.store.access_log import AccessLog
from registry.store.campaigns import CAMPAIGNS, CampaignStore
from registry.store.drivers import DRIVERS, DriverStore
from registry.store.erasure_receipts import ErasureReceiptStore
from registry.store.fleets import FleetStore
from registry.store.grids import GRIDS, GridStore
from registry.store.lookups import LookupStore
from registry.store.organisations import ORGANISATIONS, OrganisationStore
from registry.store.protected import ROTATED
from registry.store.reviews import ReviewStore
from registry.store.vehicles import VehicleStore

Document = dict[str, Any]


def build_registry(
    db: AsyncDatabase[Document], settings: RegistrySettings, relay: RelayRef = no_relay
) -> Registry:
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
    return Registry.build(
        stores, PiiProtector.from_settings(settings), relay, faults=Faults(settings.faults)
    )


def create_app(
    settings: RegistrySettings,
    *,
    store: AsyncDatabase[Document] | None = None,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    built: dict[str, Any] = {}

    def wire(runtime: Runtime) -> None:
        # store -> relay -> use cases -> consumers. The runtime starts the relay after wiring,
        # so the use cases hold a reference to it that they read when they announce.
        registry = build_registry(runtime.db, settings, relay=lambda: runtime.relay)
        built["registry"] = registry
        partner = PartnerHandlers(
            registry.registrar, ProcessedEvents(runtime.db[PROCESSED]), runtime.faults
        )
        consumer = runtime.consumer("registry")
        consumer.partners(partner.handlers())
        receipts = ErasureReceipts(DriverStore(runtime.db), ErasureReceiptStore(runtime.db))
        built["erasure_receipts"] = receipts
        confirmations = ErasureHandlers(receipts)
        # Check-ins tell the registry which drivers a station's staff may read.
        also = {"stations.events": StationHandlers(registry.station_access).handlers()}
        for topic in CONFIRMING_TOPICS:
            consumer.domain(topic, {**confirmations.handlers(topic), **also.get(topic, {})})
        runtime.retention = retention_rules(settings)
        # A driver whose events a crash left unpublished, or whose hashes a key rotation
        # rewrote, is refiled in lookups (keyed by those hashes).
        runtime.rederive[DRIVERS] = LookupStore(runtime.db).sync

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings,
            indexes=[*ALL_INDEXES, *APPROVAL_INDEXES, *erasure_receipts.INDEXES],
            outbox_collections=[DRIVERS, ORGANISATIONS, GRIDS, CAMPAIGNS],
            rotated=ROTATED,
            wire=wire,
            store=store,
            broker=broker,
        ) as runtime:
            registry = built["registry"]
            await registry.lifecycle.finish_pending_erasures()
            await LookupStore(runtime.db).backfill()  # once: drivers stored before lookups
            await registry.district.finish_interrupted_moves()
            await registry.people_erasure.finish_pending()
            app.state.runtime = runtime
            app.state.registry = registry
            app.state.erasure_receipts = built["erasure_receipts"]
            keep_requests(app, runtime.db, settings)
            app.state.readiness = readiness_checks(runtime)
            async with four_eyes(app, runtime.db, settings, registry_areas(registry)):
                yield

    return create_service_app(
        settings,
        title="driverhome registry",
        description=(
            "The driver register: drivers, vehicles and port passes, fleets, grids, "
            "organisations and memberships, family, consents, census, partner registrations."
        ),
        lifespan=lifespan,
        # In this order: a router's paths match before the next router's.
        routers=[
            drivers_router,
            vehicles_router,
            consent_router,
            consent_requests_router,
            units_router,
            district_router,
            census_router,
            survey_router,
            oversight_router,
            partner_links_router,
            approvals_router,
            dlq_router,
            erasure_router,
            people_erasure_router,
        ],
        errors=ERRORS,
        wire=wire,
    )
