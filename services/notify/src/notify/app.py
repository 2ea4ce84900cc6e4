from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common import partner_links
from common.approvals import INDEXES as APPROVAL_INDEXES
from common.approvals import four_eyes
from common.approvals_api import router as approvals_router
from common.clock import Clock, utc_now
from common.consents import following_consents
from common.dispatch import EventHandler, on
from common.dlq_api import router as dlq_router
from common.erased_drivers import ErasedDrivers
from common.erasure import answering_erasure, driver_erasure, keyed_pseudonym, skipping_erased
from common.events import DOMAIN_EVENTS
from common.events.notify import NotifyErasureCompleted
from common.idempotency import ProcessedEvents
from common.partner_directory import PartnerDirectoryFeed
from common.partner_links import PartnerLinkBook
from common.pii import PiiProtector
from common.requests import idempotency_indexes, keep_requests
from common.runtime import Runtime, readiness_checks, service_runtime
from common.topics import ensure_topics
from common.webapp import create_service_app
from common.webhook_targets import PinnedClient
from notify import partner_links as webhook_audience
from notify.api.broadcasts_routes import router as broadcasts_router
from notify.api.composer_routes import router as composer_router
from notify.api.delivery_routes import router as delivery_router
from notify.api.errors import ERRORS
from notify.api.inbox_routes import router as inbox_router
from notify.api.preferences_routes import router as preferences_router
from notify.api.templates_routes import router as templates_router
from notify.api.webhooks_routes import router as webhooks_router
from notify.channels.breaker import CircuitBreakers
from notify.channels.senders import SmsGateway, WebhookSender
from notify.channels.targets import TargetPolicy
from notify.consents import NotifyConsents
from notify.delivery import Channels
from notify.dispatcher import Dispatcher
from notify.erasure import KEPT, STEPS
from notify.fanout import WORK_TOPIC, BroadcastBatch
from notify.four_eyes import notify_areas
from notify.handlers.broadcasts import BroadcastHandlers
from notify.handlers.events import DomainHandlers
from notify.partner_links import NotificationConsents, PartnerAudience
from notify.retention import retention_rules
from notify.service import Notify, Stores
from notify.settings import NotifySettings
from notify.store import (
    broadcasts,
    drivers,
    notifications,
    rate_limits,
    templates,
    units,
    webhooks,
)
from notify.store.protected import ROTATED
from notify.templates import NOTIFYING

PROCESSED = "processed_events"
INDEXES = [
    *partner_links.INDEXES,
    *webhook_audience.INDEXES,
    *notifications.INDEXES,
    *drivers.INDEXES,
    *templates.INDEXES,
    *webhooks.INDEXES,
    *broadcasts.INDEXES,
    *units.INDEXES,
    *APPROVAL_INDEXES,
    *rate_limits.INDEXES,
    ProcessedEvents.indexes(PROCESSED),
    idempotency_indexes(),
]
OUTBOX_COLLECTIONS = [notifications.NOTIFICATIONS, broadcasts.BROADCASTS]
OWN_TOPIC = "notify.events"


# Kept by the partner link book (common.partner_links), never notified about.
LINK_TYPES = ("driver.partner_linked.v1", "driver.partner_unlinked.v1")
FACT_TYPES = (
    "driver.registered.v1",
    "driver.updated.v1",
    "driver.deactivated.v1",
    "points.grade_changed.v1",
    "organisation.placed.v1",
    "grid.placed.v1",
    "driving.reported.v1",
    *LINK_TYPES,
)


def domain_handlers_types() -> dict[str, tuple[str, ...]]:
    """Per consumed topic, the event types notify acts on (for the AsyncAPI contract)."""
    out: dict[str, tuple[str, ...]] = {}
    for topic, catalogue in DOMAIN_EVENTS.items():
        if topic == OWN_TOPIC:
            continue
        handled = tuple(t for t in catalogue if t in FACT_TYPES or t in NOTIFYING)
        if handled:
            out[topic] = handled
    return out


def domain_handlers(
    handlers: DomainHandlers, audience: PartnerAudience
) -> dict[str, dict[str, EventHandler]]:
    """Per consumed topic, the types notify acts on (others are skipped by the consumer)."""
    special = handlers.special()
    # Every other domain topic is consumed too (types without a handler are skipped), so a
    # type added to NOTIFYING later needs no new subscription.
    out: dict[str, dict[str, EventHandler]] = {
        topic: {} for topic in DOMAIN_EVENTS if topic != OWN_TOPIC
    }
    for topic, types in domain_handlers_types().items():
        out[topic] = {
            t: special.get(t, handlers.on_notifying_event) for t in types if t not in LINK_TYPES
        }
    out["registry.events"] = audience.following(out["registry.events"])
    return out


def build_notify(
    runtime: Runtime, settings: NotifySettings, client: httpx.AsyncClient, clock: Clock
) -> Notify:
    """The use cases over the runtime's store and publisher, sending through ``client``."""
    db = runtime.db
    policy = TargetPolicy(
        environment=settings.environment,
        allowed_networks=settings.webhook_allowed_networks,
        require_https=settings.environment == "production",
    )
    stores = Stores(
        notifications=notifications.NotificationStore(db),
        drivers=drivers.DriverStore(db),
        templates=templates.TemplateStore(db),
        webhooks=webhooks.WebhookStore(db),
        broadcasts=broadcasts.BroadcastStore(db),
        rate_limits=rate_limits.RateLimitStore(db),
        partner_links=PartnerLinkBook(db),
        webhook_consents=NotificationConsents(db),
        erased=ErasedDrivers(db, keyed_pseudonym(settings.pii_hmac_key)),
        partners=runtime.directory,
    )
    channels = Channels(
        webhooks=WebhookSender(
            PinnedClient(policy, timeout=settings.webhook_timeout_seconds), clock
        ),
        sms=SmsGateway(
            client,
            url=settings.sms_gateway_url,
            api_key=settings.sms_api_key.get_secret_value() if settings.sms_api_key else None,
            sign_name=settings.sms_sign_name,
        ),
        breakers=CircuitBreakers(
            clock,
            threshold=settings.breaker_failure_threshold,
            reset_seconds=settings.breaker_reset_seconds,
        ),
        policy=policy,
    )
    return Notify.build(
        stores,
        channels,
        settings=settings,
        clock=clock,
        publisher=runtime.publisher,
        pii=PiiProtector.from_settings(settings),
        faults=runtime.faults,
        # Read when a broadcast is resolved: the runtime starts the relay after wiring.
        relay=lambda: runtime.relay,
    )


async def follow_partners(runtime: Runtime) -> None:
    """Feed the runtime's partner directory from ``partners.events`` (common.partner_directory),
    read to its end before the first webhook goes out.

    The runtime starts the feed for services that consume partner topics only; notify reads
    none, but must know which partners are suspended to refuse their webhooks. Started here,
    before consuming starts, and stopped by the runtime with everything else."""
    runtime.directory_feed = PartnerDirectoryFeed(runtime.settings, runtime.directory)
    await runtime.directory_feed.start()


def create_app(
    settings: NotifySettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    http: dict[str, httpx.AsyncClient] = {}
    built: dict[str, Notify] = {}

    def wire(runtime: Runtime) -> None:
        # store -> relay -> use cases -> consumers; the routes read the use cases from app.state.
        # No client yet: the contract's dry run of the wiring (common.contracts), which sends
        # nothing.
        client = http.get("client") or httpx.AsyncClient()
        notify = build_notify(runtime, settings, client, clock)
        built["notify"] = notify
        consumer = runtime.consumer("notify")
        handlers = DomainHandlers(
            notify.facts,
            notify.delivery,
            ProcessedEvents(runtime.db[PROCESSED]),
            notify.driving,
            notify.honours,
        )
        audience = PartnerAudience(PartnerLinkBook(runtime.db), NotificationConsents(runtime.db))
        by_topic = domain_handlers(handlers, audience)
        erasure = driver_erasure(runtime, NotifyErasureCompleted, STEPS, kept=KEPT, clock=clock)
        runtime.retention = retention_rules(settings)
        consents = NotifyConsents(runtime.db)
        registry_events = following_consents(by_topic["registry.events"], consents.follow)
        by_topic["registry.events"] = answering_erasure(registry_events, erasure)
        for topic, by_type in by_topic.items():
            # An event about an erased driver arriving late would fill the inbox again.
            consumer.domain(topic, skipping_erased(by_type, erasure))
        batches = BroadcastHandlers(notify.broadcasts)
        # Pages side by side (each work item is keyed by its page): one page's documents are
        # planned while another's are stored.
        consumer.internal(
            WORK_TOPIC,
            on(BroadcastBatch, batches.on_broadcast_batch),
            group="broadcasts",
            batch_size=4 * settings.broadcast_pages_at_once,
            lanes=settings.broadcast_pages_at_once,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings, [WORK_TOPIC])
        # Redirects are never followed: a webhook target must not bounce a request inward.
        async with httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False
        ) as client:
            http["client"] = client
            async with service_runtime(
                settings,
                indexes=INDEXES,
                outbox_collections=OUTBOX_COLLECTIONS,
                rotated=ROTATED,
                wire=wire,
                prepare=follow_partners,
                store=store,
                broker=broker,
            ) as runtime:
                notify = built["notify"]
                app.state.runtime = runtime
                app.state.notify = notify
                keep_requests(app, runtime.db, settings)
                app.state.readiness = readiness_checks(runtime)
                dispatcher = Dispatcher(
                    notify.delivery,
                    notify.broadcasts,
                    interval=settings.dispatch_interval_seconds,
                )
                app.state.dispatcher = dispatcher
                dispatcher.start()
                try:
                    async with four_eyes(
                        app, runtime.db, settings, notify_areas(notify.broadcasts)
                    ):
                        yield
                finally:
                    await dispatcher.stop()

    return create_service_app(
        settings,
        title="driverhome notify",
        description="Templates, preferences, inbox, deliveries and broadcasts.",
        lifespan=lifespan,
        routers=[
            inbox_router,
            delivery_router,
            preferences_router,
            templates_router,
            webhooks_router,
            composer_router,
            broadcasts_router,
            approvals_router,
            dlq_router,
        ],
        errors=ERRORS,
        wire=wire,
    )
