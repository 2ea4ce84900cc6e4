from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common.clock import Clock, utc_now
from common.consents import following_consents
from common.dlq_api import router as dlq_router
from common.erasure import answering_erasure, driver_erasure, skipping_erased
from common.events.stations import StationsErasureCompleted
from common.idempotency import ProcessedEvents
from common.periodic import Periodic
from common.requests import idempotency_indexes, keep_requests
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app
from stations.api.activities_routes import router as activities_router
from stations.api.checkins_routes import router as checkins_router
from stations.api.circle_routes import router as circle_router
from stations.api.errors import ERRORS
from stations.api.feedback_routes import router as feedback_router
from stations.api.lifecycle_routes import router as lifecycle_router
from stations.api.network_routes import router as network_router
from stations.api.stations_routes import router as stations_router
from stations.consents import LocationConsent
from stations.driving import DRIVING
from stations.driving import INDEXES as DRIVING_INDEXES
from stations.erasure import KEPT, STEPS
from stations.handlers.driving import DrivingHandlers
from stations.handlers.kiosks import KioskHandlers
from stations.handlers.registry import RegistryHandlers
from stations.holds import INDEXES as HOLDS_INDEXES
from stations.holds import OrphanHolds
from stations.rest import INDEXES as REST_INDEXES
from stations.rest import NUDGES
from stations.retention import retention_rules
from stations.service import Stations, Stores
from stations.settings import StationsSettings
from stations.store import activities, checkins, drivers, feedback, lifecycle, stations

PROCESSED = "processed_events"
GROUP = "stations"

INDEXES = [
    *stations.INDEXES,
    *checkins.INDEXES,
    *drivers.INDEXES,
    *activities.INDEXES,
    *feedback.INDEXES,
    *lifecycle.INDEXES,
    *REST_INDEXES,
    *DRIVING_INDEXES,
    *HOLDS_INDEXES,
    ProcessedEvents.indexes(PROCESSED),
    idempotency_indexes(),
]


def create_app(
    settings: StationsSettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    built: dict[str, Stations] = {}
    jobs: dict[str, Periodic] = {}

    def wire(runtime: Runtime) -> None:
        # store -> relay -> use cases -> consumers. The runtime starts the relay after wiring,
        # so the use cases hold a reference to it that they read when they announce.
        db = runtime.db
        use_cases = Stations.build(
            Stores(
                stations=stations.StationStore(db),
                checkins=checkins.CheckinStore(db),
                drivers=drivers.DriverStore(db),
                activities=activities.ActivityStore(db),
                feedback=feedback.FeedbackStore(db),
                lifecycle=lifecycle.LifecycleStore(db),
            ),
            settings,
            relay=lambda: runtime.relay,
            clock=clock,
        )
        built["stations"] = use_cases
        orphans = OrphanHolds(
            db,
            stations.StationStore(db),
            checkins.CheckinStore(db),
            grace=timedelta(minutes=settings.hold_grace_minutes),
            clock=clock,
        )
        jobs["holds"] = Periodic(
            "stations-orphan-holds",
            settings.holds_check_seconds,
            orphans.reconcile,
            first_after=settings.holds_check_seconds,
        )
        registry = RegistryHandlers(use_cases.drivers, ProcessedEvents(db[PROCESSED]))
        kiosks = KioskHandlers(
            use_cases.checkins, use_cases.directory, runtime.faults, settings, clock=clock
        )
        consumer = runtime.consumer(GROUP)
        erasure = driver_erasure(runtime, StationsErasureCompleted, STEPS, kept=KEPT, clock=clock)
        consenting = following_consents(registry.handlers(), LocationConsent(db).follow)
        consumer.domain("registry.events", answering_erasure(consenting, erasure))
        runtime.retention = retention_rules(settings)
        # A kiosk's late report about an erased driver would be recorded (even refused) again.
        driving = DrivingHandlers(use_cases.rest, use_cases.driving, settings, clock=clock)
        partner_types = {**kiosks.handlers(), **driving.handlers()}
        consumer.partners(skipping_erased(partner_types, erasure))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings,
            indexes=INDEXES,
            outbox_collections=[
                checkins.CHECKINS,
                activities.ATTENDANCES,
                lifecycle.VERSIONS,
                NUDGES,
                DRIVING,
            ],
            wire=wire,
            store=store,
            broker=broker,
        ) as runtime:
            app.state.runtime = runtime
            app.state.stations = built["stations"]
            keep_requests(app, runtime.db, settings)
            app.state.readiness = readiness_checks(runtime)
            jobs["holds"].start()
            try:
                yield
            finally:
                await jobs["holds"].stop()

    return create_service_app(
        settings,
        title="driverhome stations",
        description=(
            "Stations, facilities and the service catalogue, check-ins, occupancy, nearest "
            "stations, activities and drivers' feedback."
        ),
        lifespan=lifespan,
        # In this order: a router's paths match before the next router's.
        routers=[
            stations_router,
            checkins_router,
            feedback_router,
            activities_router,
            lifecycle_router,
            circle_router,
            dlq_router,
            network_router,
        ],
        errors=ERRORS,
        wire=wire,
    )
