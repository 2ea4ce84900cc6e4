from __future__ import annotations

from base64 import b64decode
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common import partner_links
from common.approvals import INDEXES as APPROVAL_INDEXES
from common.approvals import four_eyes
from common.approvals_api import router as approvals_router
from common.clock import Clock, utc_now
from common.consents import following_consents
from common.dlq_api import router as dlq_router
from common.erasure import answering_erasure
from common.idempotency import ProcessedEvents
from common.lease import StoreLease
from common.partner_links import PartnerLinkBook, following_links
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app
from points import vouchers as voucher_store
from points.api.errors import ERRORS
from points.api.figures_routes import router as figures_router
from points.api.mall_routes import router as mall_router
from points.api.routes import router
from points.api.simulator_routes import router as simulator_router
from points.consents import EarningConsent
from points.erasure import points_erasure
from points.figures import Figures
from points.four_eyes import points_areas
from points.handlers.earning import EarningHandlers, helping
from points.handlers.registry import RegistryHandlers
from points.holds import Holds
from points.jobs import Maintenance
from points.leaderboards import Leaderboards
from points.ledger import Ledger
from points.mall import Mall
from points.parking import Parking
from points.readers import AccountReaders
from points.retention import retention_rules
from points.service import EarningWindow, PointsPolicy, PointsService
from points.settings import PointsSettings
from points.simulation import Simulator
from points.statements import Signer, Statements
from points.store import (
    accounts,
    entries,
    maker_totals,
    parked,
    redemptions,
    review,
    rewards,
    rules,
    statements,
)
from points.store.accounts import ACCOUNTS, AccountStore
from points.store.entries import EntryStore
from points.store.leaderboards import Standings
from points.store.maker_totals import MakerTotals
from points.store.parked import PARKED, ParkedEvents
from points.store.redemptions import RedemptionStore
from points.store.review import HeldForReview
from points.store.rewards import RewardStore
from points.store.rules import RuleStore
from points.store.statements import StatementStore
from points.store.station_awards import StationAwards
from points.vouchers import RetiredKey, VoucherKeys, Vouchers, signing_key

PROCESSED = "processed_events"
INDEXES = [
    *accounts.INDEXES,
    *entries.INDEXES,
    *rules.INDEXES,
    *parked.INDEXES,
    *review.INDEXES,
    ProcessedEvents.indexes(PROCESSED),
    *rewards.INDEXES,
    *redemptions.INDEXES,
    *statements.INDEXES,
    *voucher_store.INDEXES,
    *APPROVAL_INDEXES,
    *partner_links.INDEXES,
    *maker_totals.INDEXES,
]


# What wiring builds that the routes read from ``app.state`` under the same name.
WIRED_FOR_ROUTES = (
    "holds",
    "maker_totals",
    "mall",
    "statements",
    "vouchers",
    "leaderboards",
    "simulator",
)


def voucher_keys(settings: PointsSettings) -> VoucherKeys:
    key = signing_key(
        settings.voucher_signing_key,
        production=settings.environment == "production",
        keys_dir=settings.dev_keys_dir,
    )
    retired = [
        RetiredKey(Ed25519PublicKey.from_public_bytes(b64decode(k.public_key)), k.not_after)
        for k in settings.voucher_retired_keys
    ]
    return VoucherKeys(key, retired)


def create_app(
    settings: PointsSettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    parts: dict[str, Any] = {}

    def wire(runtime: Runtime) -> None:
        # store -> relay -> use cases -> consumers; the routes read the use cases from app.state.
        # The runtime starts the relay after wiring: the use cases read it when they announce.
        ledger = Ledger(
            AccountStore(runtime.db),
            EntryStore(runtime.db),
            runtime.publisher,
            grades=settings.grades,
            relay=lambda: runtime.relay,
            faults=runtime.faults,
            clock=clock,
        )
        parking = Parking(
            ParkedEvents(runtime.db),
            runtime.publisher,
            hold=timedelta(days=settings.parked_hold_days),
            physical_topic=settings.topic,
            consumer_group=lambda name: f"{settings.topic_prefix}points.{name}",
            relay=ledger.relay,
            clock=clock,
        )
        service = PointsService(
            ledger,
            RuleStore(runtime.db),
            parking,
            policy=PointsPolicy(
                grades=settings.grades,
                expiry_months=settings.expiry_months,
                max_goodwill_points=settings.max_goodwill_points,
                window=EarningWindow(
                    max_age=timedelta(days=settings.earning_max_age_days),
                    max_future=timedelta(minutes=settings.earning_max_future_minutes),
                ),
            ),
            review=HeldForReview(runtime.db),
            station_awards=StationAwards(
                runtime.db, per_month=settings.activity_awards_per_station_month
            ),
            clock=clock,
        )
        parts["service"] = service
        parts["holds"] = Holds(service, service.review, clock)
        parts["maker_totals"] = MakerTotals(
            runtime.db,
            limit=settings.adjustment_approval_threshold,
            window=timedelta(hours=settings.adjustment_window_hours),
            clock=clock,
        )
        parts["mall"] = Mall(
            service,
            RewardStore(runtime.db),
            RedemptionStore(runtime.db),
            reservation_days=settings.reservation_days,
            sweep_after_seconds=settings.redemption_sweep_after_seconds,
            faults=runtime.faults,
            clock=clock,
        )
        parts["statements"] = Statements(
            service,
            StatementStore(runtime.db),
            Signer(settings.statement_signing_key),
            clock=clock,
            zone=settings.district_timezone,
        )
        parts["vouchers"] = Vouchers(runtime.db, parts["mall"], voucher_keys(settings), clock=clock)
        parts["leaderboards"] = Leaderboards(Standings(runtime.db))
        registry = RegistryHandlers(service, ProcessedEvents(runtime.db[PROCESSED]), runtime.faults)
        consent = EarningConsent(runtime.db)
        earning = EarningHandlers(service, consent)
        consumer = runtime.consumer("points")
        runtime.retention = retention_rules(settings)
        erasure = points_erasure(runtime, service, clock)
        linked = following_links(PartnerLinkBook(runtime.db), registry.handlers())
        parts["simulator"] = Simulator(service, consent)
        consenting = following_consents(linked, consent.follow)
        # Batched like the earning subscriptions: a backlog of registrations (a district's
        # first import) costs one offset commit per batch; each record is still handled,
        # deduped and dead-lettered on its own. Every handler here changes one driver's
        # documents only (account, links, consent, erasure), so drivers run in lanes.
        consumer.domain(
            "registry.events",
            answering_erasure(consenting, erasure),
            batch_size=settings.consumer_batch_size,
            lanes=settings.consumer_key_lanes,
        )
        on_domain, on_partner = earning.on_domain_event, earning.on_partner_event
        consumer.domain(
            "stations.events",
            {
                "service.used.v1": on_domain,
                "activity.attended.v1": on_domain,
                "rest.taken.v1": on_domain,
            },
            batch_size=settings.consumer_batch_size,
            # An award moves one account (the ledger pins each change to the account's
            # sequence number); caps and counters are per driver, whose events share a lane.
            lanes=settings.consumer_key_lanes,
        )
        consumer.domain(
            "cases.events",
            {
                "case.compensation_granted.v1": earning.on_compensation,
                "help.completed.v1": helping(on_domain),
                "honour.awarded.v1": on_domain,
            },
        )
        consumer.partners(
            {
                "volunteer.logged.v1": on_partner,
                "safety.milestone.v1": on_partner,
                "training.completed.v1": on_partner,
                "port.appointment.kept.v1": on_partner,
            },
            batch_size=settings.consumer_batch_size,
            lanes=settings.consumer_key_lanes,
        )

    async def prepare(runtime: Runtime) -> None:
        await parts["service"].rules.seed_defaults()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings,
            indexes=INDEXES,
            outbox_collections=[ACCOUNTS, PARKED],
            wire=wire,
            prepare=prepare,
            store=store,
            broker=broker,
        ) as runtime:
            service = parts["service"]
            maintenance = Maintenance(
                service,
                sweep_seconds=settings.sweep_seconds,
                jobs_seconds=settings.jobs_interval_seconds,
                # Outlives a round, so the holder keeps it from one round to the next.
                jobs_lease=StoreLease(
                    runtime.db,
                    "points-jobs",
                    ttl=timedelta(seconds=2 * settings.jobs_interval_seconds),
                ),
                extra_sweeps=[parts["mall"].sweep],
            )
            maintenance.start()
            app.state.runtime = runtime
            app.state.service = service
            app.state.account_readers = AccountReaders(
                PartnerLinkBook(runtime.db), runtime.directory
            )
            app.state.maintenance = maintenance
            for name in WIRED_FOR_ROUTES:
                setattr(app.state, name, parts[name])
            app.state.figures = Figures(
                EntryStore(runtime.db), clock=clock, zone=settings.district_timezone
            )
            app.state.readiness = readiness_checks(runtime)
            areas = points_areas(service, parts["mall"])
            try:
                async with four_eyes(app, runtime.db, settings, areas, clock=clock):
                    yield
            finally:
                await maintenance.stop()

    return create_service_app(
        settings,
        title="driverhome points",
        description="Points accounts, the ledger, earning rules, credit grades and the mall.",
        lifespan=lifespan,
        routers=[
            router,
            simulator_router,
            mall_router,
            figures_router,
            approvals_router,
            dlq_router,
        ],
        errors=ERRORS,
        wire=wire,
    )
