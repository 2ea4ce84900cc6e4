from __future__ import annotations

import re
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
from common.erasure import answering_erasure, driver_erasure, skipping_erased
from common.events.partners import PartnersErasureCompleted
from common.partner_links import following_links
from common.requests import keep_requests
from common.runtime import Runtime, readiness_checks, service_runtime
from common.topics import ensure_topics
from common.webapp import create_service_app
from partners.api.accounts_routes import router as accounts_router
from partners.api.drivers_routes import router as drivers_router
from partners.api.errors import ERRORS
from partners.api.ingest_routes import router as ingest_router
from partners.api.keys_routes import router as keys_router
from partners.api.receipts_routes import router as receipts_router
from partners.bus_check import TopicCheck
from partners.erasure import KEPT, STEPS
from partners.four_eyes import partners_areas
from partners.handlers.dead_letters import DeadLetterHandlers
from partners.handlers.domain import DomainHandlers
from partners.retention import retention_rules
from partners.service import Partners
from partners.settings import PartnersSettings
from partners.store import ALL_INDEXES
from partners.store.partners import PARTNERS
from partners.store.protected import ROTATED

Document = dict[str, Any]


def dead_letter_pattern(settings: PartnersSettings) -> str:
    """Every partner topic's ``.dlq`` twin (physical names)."""
    return rf"^{re.escape(settings.topic_prefix)}partner\.[a-z0-9-]+\.events\.dlq$"


def create_app(
    settings: PartnersSettings,
    *,
    store: AsyncDatabase[Document] | None = None,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    built: dict[str, Partners] = {}
    topic_check = TopicCheck(settings)

    def wire(runtime: Runtime) -> None:
        async def make_topic(partner_id: str) -> None:
            await ensure_topics(settings, [f"partner.{partner_id}.events"])

        partners = Partners.build(
            runtime.db,
            settings,
            runtime.publisher,
            relay=lambda: runtime.relay,
            make_topic=make_topic,
            topic_ready=topic_check.ready,
        )
        built["partners"] = partners
        domain = DomainHandlers(partners.receipts, partners.booking)
        consumer = runtime.consumer("partners")
        erasure = driver_erasure(runtime, PartnersErasureCompleted, STEPS, kept=KEPT)
        # An award, a grade change or a counted kiosk use about a driver erased meanwhile (read
        # after the erasure, or announced later) would bring the driver's id back.
        consumer.domain(
            "points.events",
            skipping_erased(domain.points(), erasure),
            batch_size=settings.consumer_batch_size,
        )
        linked = following_links(partners.booking.partner_links, domain.registry())
        consumer.domain("registry.events", answering_erasure(linked, erasure))
        runtime.retention = retention_rules(settings)
        consumer.domain("stations.events", skipping_erased(domain.stations(), erasure))
        dead = DeadLetterHandlers(partners.receipts)
        consumer.records(dead_letter_pattern(settings), dead.on_dead_letter, group="rejections")

    async def prepare(runtime: Runtime) -> None:
        await built["partners"].accounts.seed(settings.partners)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            settings,
            indexes=[*ALL_INDEXES, *APPROVAL_INDEXES],
            outbox_collections=[PARTNERS],
            rotated=ROTATED,
            wire=wire,
            prepare=prepare,
            store=store,
            broker=broker,
        ) as runtime:
            partners = built["partners"]
            partners.notices.start()
            app.state.runtime = runtime
            app.state.partners = partners
            app.state.api_keys = partners.api_keys
            keep_requests(app, runtime.db, settings)
            app.state.readiness = readiness_checks(runtime)
            try:
                async with four_eyes(app, runtime.db, settings, partners_areas(partners.accounts)):
                    yield
            finally:
                await partners.notices.stop()
                await topic_check.close()

    return create_service_app(
        settings,
        title="driverhome partners",
        description=(
            "The partner edge: partner accounts, HTTP ingest of CloudEvents, receipts and "
            "rejections, and the booking system's driver and grade lookups."
        ),
        lifespan=lifespan,
        # The batch ingest takes up to ingest_max_body_bytes (it counts the bytes itself too).
        body_limits={"/v1/events": settings.ingest_max_body_bytes},
        routers=[
            accounts_router,
            keys_router,
            ingest_router,
            receipts_router,
            drivers_router,
            approvals_router,
            dlq_router,
        ],
        errors=ERRORS,
        wire=wire,
    )
