from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from cases.aid import AidDesk
from cases.aid_campaigns import Campaigns
from cases.aid_kinds import load_kinds
from cases.aid_visits import VISITS, HardshipVisits
from cases.api.aid_campaign_routes import router as aid_campaign_router
from cases.api.aid_campaign_routes import visits_router as aid_visits_router
from cases.api.aid_routes import router as aid_router
from cases.api.calendar_routes import router as calendar_router
from cases.api.care_routes import router as care_router
from cases.api.cases_routes import router as cases_router
from cases.api.commitments_routes import router as commitments_router
from cases.api.complaints_routes import router as complaints_router
from cases.api.errors import ERRORS
from cases.api.extensions_routes import router as extensions_router
from cases.api.figures_routes import router as figures_router
from cases.api.help_routes import router as help_router
from cases.api.honours_routes import router as honours_router
from cases.api.party_routes import router as party_router
from cases.api.transitions_routes import router as transitions_router
from cases.calendar import BusinessCalendar
from cases.calendars import NOTICES, CalendarService
from cases.census_referrals import CensusReferrals
from cases.commitments import Commitments
from cases.erasure import KEPT, STEPS
from cases.four_eyes import cases_areas
from cases.handlers.grades import GradeHandlers
from cases.handlers.party import wire_party
from cases.handlers.points import PointsHandlers
from cases.handlers.registry import RegistryHandlers
from cases.honours import Honours
from cases.jobs import scanner as periodic_scanner
from cases.mutual_help import MutualHelp
from cases.retention import retention_rules
from cases.service import Cases, build_cases
from cases.settings import CasesSettings
from cases.store import aid, aid_campaigns, cases, dossiers, honours, needs, party, units
from cases.store.aid import APPLICATIONS, AidStore
from cases.store.aid_campaigns import DELIVERIES, CampaignStore
from cases.store.calendars import CALENDARS, CalendarStore
from cases.store.case_clocks import CaseClocks
from cases.store.cases import CASES
from cases.store.commitments import COMMITMENTS
from cases.store.commitments import INDEXES as COMMITMENT_INDEXES
from cases.store.honours import ROUNDS, HonourStore
from cases.store.needs import NEEDS, NeedStore
from cases.store.party import ATTENDANCE, LEDGER, MEETINGS
from cases.store.units import DistrictUnits
from common import partner_links
from common.approvals import INDEXES as APPROVAL_INDEXES
from common.approvals import four_eyes
from common.approvals_api import router as approvals_router
from common.clock import Clock, utc_now
from common.dlq_api import router as dlq_router
from common.erasure import DriverErasure, answering_erasure, driver_erasure, skipping_erased
from common.events.cases import CasesErasureCompleted
from common.outbox import OutboxRelay
from common.partner_links import PartnerLinkBook, following_links
from common.requests import idempotency_indexes, keep_requests
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app

INDEXES = [
    *cases.INDEXES,
    *dossiers.INDEXES,
    *needs.INDEXES,
    *aid.INDEXES,
    *aid_campaigns.INDEXES,
    *honours.INDEXES,
    *COMMITMENT_INDEXES,
    *party.INDEXES,
    *units.INDEXES,
    *partner_links.INDEXES,
    idempotency_indexes(),
    *APPROVAL_INDEXES,
]


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
        # store -> relay -> use cases -> consumers. The runtime starts the relay after wiring,
        # so the use cases hold a reference to it that they read when they announce.
        def relay() -> OutboxRelay | None:
            return runtime.relay

        service = build_cases(
            runtime.db, calendar, settings, relay=relay, faults=runtime.faults, clock=clock
        )
        built["cases"] = service
        built["help"] = MutualHelp(service.records, NeedStore(runtime.db), service.intake)
        built["honours"] = Honours(service.records, HonourStore(runtime.db))
        built["commitments"] = Commitments.over(runtime.db, service.records, built["honours"])
        built["aid"] = AidDesk(
            AidStore(runtime.db), load_kinds(settings.aid_kinds_file), clock=clock, relay=relay
        )
        built["aid_campaigns"] = Campaigns(
            CampaignStore(runtime.db), DistrictUnits(runtime.db), clock=clock, relay=relay
        )
        built["aid_visits"] = HardshipVisits(runtime.db, clock=clock, relay=relay)
        built["calendars"] = CalendarService(
            CalendarStore(runtime.db),
            CaseClocks(runtime.db),
            calendar,
            clock=clock,
            service_name=settings.service_name,
            relay=relay,
        )
        consumer = runtime.consumer("cases")
        erasure = _erasure(runtime, built, clock)
        # Party life follows the registry (consents, secretaries) and reads partner topics.
        built["party"], registry_handlers = wire_party(
            runtime,
            consumer,
            erasure,
            RegistryHandlers(
                service.dossiers,
                DistrictUnits(runtime.db),
                CensusReferrals(service.intake, runtime.db),
            ).handlers(),
            settings=settings,
            clock=clock,
        )
        linked = following_links(PartnerLinkBook(runtime.db), registry_handlers)
        # Batched subscriptions (as points' earning ones): one offset commit per batch, each
        # record still handled, deduped and dead-lettered on its own.
        batch = settings.consumer_batch_size
        # A driver's fact read after their erasure (a replayed dead letter, or one announced
        # before it) would bring back what the erasure deleted; the erasure itself still runs.
        consumer.domain(
            "registry.events",
            answering_erasure(skipping_erased(linked, erasure), erasure),
            batch_size=batch,
        )
        runtime.retention = retention_rules(settings)
        consumer.domain(
            "points.events",
            {
                **PointsHandlers(
                    service.compensations, built["honours"], erasure.erased
                ).handlers(),
                # A grade announced before an erasure and read after it would follow it again.
                **skipping_erased(GradeHandlers(built["aid"]).handlers(), erasure),
            },
            batch_size=batch,
        )

    async def prepare(runtime: Runtime) -> None:
        calendars: CalendarService = built["calendars"]
        await calendars.seed(notices)
        await built["party"].points.seed()
        await calendars.refresh()
        calendars.next_year_missing(clock())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings,
            indexes=INDEXES,
            outbox_collections=[
                CASES,
                CALENDARS,
                NEEDS,
                ROUNDS,
                COMMITMENTS,
                APPLICATIONS,
                DELIVERIES,
                VISITS,
                MEETINGS,
                ATTENDANCE,
                LEDGER,
            ],
            wire=wire,
            prepare=prepare,
            store=store,
            broker=broker,
        ) as runtime:
            service: Cases = built["cases"]
            calendars: CalendarService = built["calendars"]
            board: MutualHelp = built["help"]
            scanner = periodic_scanner(
                service.breach_scan,
                calendars,
                every=settings.scan_seconds,
                also=[board.hand_over_unclaimed],
            )
            if scan:
                scanner.start()
            app.state.runtime = runtime
            app.state.cases = service
            app.state.calendars = calendars
            app.state.help = board
            for name in ("aid", "aid_campaigns", "aid_visits", "honours", "party", "commitments"):
                setattr(app.state, name, built[name])
            app.state.scanner = scanner
            keep_requests(app, runtime.db, settings)
            app.state.readiness = readiness_checks(runtime)
            try:
                async with four_eyes(app, runtime.db, settings, cases_areas(service.compensations)):
                    yield
            finally:
                await scanner.stop()

    return create_service_app(
        settings,
        title="driverhome cases",
        description=(
            "Drivers' requests and complaints: the closed loop of intake, routing, handling, "
            "answer and revisit, with time limits on a Chinese business calendar, care-broker "
            "dossiers and published figures."
        ),
        lifespan=lifespan,
        # In this order: a router's paths match before the next router's.
        routers=[
            cases_router,
            transitions_router,
            extensions_router,
            complaints_router,
            care_router,
            help_router,
            aid_router,
            aid_campaign_router,
            aid_visits_router,
            honours_router,
            commitments_router,
            party_router,
            figures_router,
            calendar_router,
            approvals_router,
            dlq_router,
        ],
        errors=ERRORS,
        wire=wire,
    )


def _erasure(runtime: Runtime, built: dict[str, Any], clock: Clock) -> DriverErasure:
    """The cases erasure; the HTTP use cases that make new records about a driver (a case, an
    aid application, a hardship visit, a care broker's naming, a nomination) refuse one it
    erased, and an aid campaign leaves one out."""
    erasure = driver_erasure(runtime, CasesErasureCompleted, STEPS, kept=KEPT, clock=clock)
    built["cases"].records.erased = erasure.erased
    built["aid"].erased = erasure.erased
    built["aid_visits"].erased = erasure.erased
    built["aid_campaigns"].erased = erasure.erased
    return erasure
