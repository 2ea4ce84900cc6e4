from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from common.bus import EventHandler, ensure_topics
from common.events import DOMAIN_EVENTS, CloudEvent, EventData
from common.idempotency import ProcessedEvents
from common.pii import PiiProtector
from common.requests import IDEMPOTENCY_KEYS, IdempotentRequests, idempotency_indexes
from common.runtime import Runtime, readiness_checks, service_runtime
from common.webapp import create_service_app
from notify.api.routes import router
from notify.channels.breaker import CircuitBreakers
from notify.channels.senders import SmsGateway, WebhookSender
from notify.channels.targets import TargetPolicy
from notify.clock import Clock, SystemClock
from notify.dispatcher import Dispatcher
from notify.fanout import WORK_TOPIC, BroadcastBatch
from notify.handlers.broadcasts import BroadcastHandlers
from notify.handlers.events import DomainHandlers
from notify.service import Channels, NotifyService, Stores
from notify.settings import NotifySettings
from notify.store import broadcasts, drivers, notifications, rate_limits, templates, webhooks
from notify.templates import NOTIFYING

PROCESSED = "processed_events"
INDEXES = [
    *notifications.INDEXES,
    *drivers.INDEXES,
    *templates.INDEXES,
    *webhooks.INDEXES,
    *broadcasts.INDEXES,
    *rate_limits.INDEXES,
    ProcessedEvents.indexes(PROCESSED),
    idempotency_indexes(),
]
OUTBOX_COLLECTIONS = [notifications.NOTIFICATIONS, broadcasts.BROADCASTS]
OWN_TOPIC = "notify.events"


FACT_TYPES = (
    "driver.registered.v1",
    "driver.updated.v1",
    "driver.deactivated.v1",
    "points.grade_changed.v1",
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


def domain_handlers(handlers: DomainHandlers) -> dict[str, dict[str, EventHandler]]:
    """Per consumed topic, the types notify acts on (others are skipped by the consumer)."""
    special: dict[str, EventHandler] = {
        "driver.registered.v1": handlers.on_driver_registered,
        "driver.deactivated.v1": handlers.on_driver_deactivated,
        "driver.updated.v1": handlers.on_driver_updated,
        "points.grade_changed.v1": handlers.on_grade_changed,
    }
    # Every other domain topic is consumed too (types without a handler are skipped), so a
    # type added to NOTIFYING later needs no new subscription.
    out: dict[str, dict[str, EventHandler]] = {
        topic: {} for topic in DOMAIN_EVENTS if topic != OWN_TOPIC
    }
    for topic, types in domain_handlers_types().items():
        out[topic] = {t: special.get(t, handlers.on_notifying_event) for t in types}
    return out


def create_app(
    settings: NotifySettings,
    *,
    store: AsyncDatabase[dict[str, Any]] | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    clock = clock or SystemClock()
    services: dict[str, NotifyService] = {}
    http: dict[str, httpx.AsyncClient] = {}

    def wire(runtime: Runtime) -> None:
        db = runtime.db
        policy = TargetPolicy(
            environment=settings.environment,
            allowed_networks=settings.webhook_allowed_networks,
            require_https=settings.environment == "production",
        )
        client = http["client"]
        service = NotifyService(
            Stores(
                notifications=notifications.NotificationStore(db),
                drivers=drivers.DriverStore(db),
                templates=templates.TemplateStore(db),
                webhooks=webhooks.WebhookStore(db),
                broadcasts=broadcasts.BroadcastStore(db),
                rate_limits=rate_limits.RateLimitStore(db),
            ),
            Channels(
                webhooks=WebhookSender(client, policy, clock),
                sms=SmsGateway(
                    client,
                    url=settings.sms_gateway_url,
                    api_key=settings.sms_api_key.get_secret_value()
                    if settings.sms_api_key
                    else None,
                    sign_name=settings.sms_sign_name,
                ),
                breakers=CircuitBreakers(
                    clock,
                    threshold=settings.breaker_failure_threshold,
                    reset_seconds=settings.breaker_reset_seconds,
                ),
                policy=policy,
            ),
            settings=settings,
            clock=clock,
            publisher=runtime.publisher,
            pii=PiiProtector(settings.pii_key, settings.pii_hmac_key),
            faults=runtime.faults,
        )
        services["notify"] = service
        consumer = runtime.consumer("notify")
        for topic, handlers in domain_handlers(
            DomainHandlers(service, ProcessedEvents(db[PROCESSED]))
        ).items():
            consumer.domain(topic, handlers)
        batch_handlers = BroadcastHandlers(service)

        async def on_batch(event: CloudEvent, data: EventData) -> None:
            await batch_handlers.on_broadcast_batch(data)

        consumer.internal(WORK_TOPIC, BroadcastBatch, on_batch, group="broadcasts")

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
                wire=wire,
                store=store,
                broker=broker,
            ) as runtime:
                service = services["notify"]
                app.state.runtime = runtime
                app.state.service = service
                app.state.idempotent_requests = IdempotentRequests(
                    runtime.db[IDEMPOTENCY_KEYS], lease_seconds=settings.idempotency_lease_seconds
                )
                app.state.readiness = readiness_checks(runtime)
                dispatcher = Dispatcher(service, interval=settings.dispatch_interval_seconds)
                app.state.dispatcher = dispatcher
                dispatcher.start()
                try:
                    yield
                finally:
                    await dispatcher.stop()

    return create_service_app(
        settings,
        title="driverhome notify",
        description="Templates, preferences, inbox, deliveries and broadcasts.",
        lifespan=lifespan,
        routers=[router],
    )
