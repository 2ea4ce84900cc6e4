from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from cases.api import calendar_routes
from cases.api.routes import router
from cases.calendar import BusinessCalendar, CalendarYearNotLoaded
from cases.calendars import NOTICES, CalendarService
from cases.domain import CaseError
from cases.handlers.points import PointsHandlers
from cases.handlers.registry import RegistryHandlers
from cases.jobs import Scanner
from cases.service import CasesService, Clock, utc_now
from cases.settings import CasesSettings
from cases.store import cases, dossiers
from cases.store.calendars import CALENDARS, CalendarStore
from cases.store.cases import CASES, CaseStore
from cases.store.dossiers import DossierStore
from common.problems import problem_response
from common.requests import IDEMPOTENCY_KEYS, IdempotentRequests, idempotency_indexes
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app

INDEXES = [*cases.INDEXES, *dossiers.INDEXES, idempotency_indexes()]


def build_calendar(settings: CasesSettings) -> BusinessCalendar:
    return BusinessCalendar(
        settings.calendar_years,
        timezone=settings.calendar_timezone,
        opens=time.fromisoformat(settings.office_opens),
        closes=time.fromisoformat(settings.office_closes),
    )


def create_app(
    settings: CasesSettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock = utc_now,
    scan: bool = True,
) -> FastAPI:
    calendar = build_calendar(settings)
    built: dict[str, Any] = {}
    notices = Path(settings.holiday_notices_dir) if settings.holiday_notices_dir else NOTICES

    def wire(runtime: Runtime) -> None:
        service = CasesService(
            CaseStore(runtime.db),
            DossierStore(runtime.db),
            calendar,
            settings,
            faults=runtime.faults,
            clock=clock,
        )
        built["service"] = service
        built["calendars"] = CalendarService(
            CalendarStore(runtime.db),
            service.cases,
            calendar,
            clock=clock,
            service_name=settings.service_name,
        )
        registry = RegistryHandlers(service.dossiers, service.cases)
        points = PointsHandlers(service)
        consumer = runtime.consumer("cases")
        consumer.domain(
            "registry.events",
            {
                "driver.registered.v1": registry.on_driver_registered,
                "driver.deactivated.v1": registry.on_driver_deactivated,
            },
        )
        consumer.domain("points.events", {"points.awarded.v1": points.on_points_awarded})

    async def prepare(runtime: Runtime) -> None:
        calendars: CalendarService = built["calendars"]
        await calendars.seed(notices)
        await calendars.refresh()
        calendars.next_year_missing(clock())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings,
            indexes=INDEXES,
            outbox_collections=[CASES, CALENDARS],
            wire=wire,
            prepare=prepare,
            store=store,
            broker=broker,
        ) as runtime:
            service: CasesService = built["service"]
            calendars: CalendarService = built["calendars"]
            service.relay = calendars.relay = runtime.relay
            scanner = Scanner(service, calendars, every_seconds=settings.scan_seconds)
            if scan:
                scanner.start()
            app.state.runtime = runtime
            app.state.service = service
            app.state.calendars = calendars
            app.state.scanner = scanner
            app.state.idempotency = IdempotentRequests(
                runtime.db[IDEMPOTENCY_KEYS], lease_seconds=settings.idempotency_lease_seconds
            )
            app.state.readiness = readiness_checks(runtime)
            try:
                yield
            finally:
                await scanner.stop()

    app = create_service_app(
        settings,
        title="driverhome cases",
        description=(
            "Drivers' requests and complaints: the closed loop of intake, routing, handling, "
            "answer and revisit, with time limits on a Chinese business calendar, care-broker "
            "dossiers and published figures."
        ),
        lifespan=lifespan,
        routers=[router, calendar_routes.router],
    )

    async def on_case_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CaseError)
        return problem_response(request, exc.status, exc.title, str(exc))

    async def on_calendar(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 500, "Calendar Not Loaded", str(exc))

    app.add_exception_handler(CaseError, on_case_error)
    app.add_exception_handler(CalendarYearNotLoaded, on_calendar)
    return app
