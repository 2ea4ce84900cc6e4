"""Prometheus metrics shared by the services (one process registry, labelled by service)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "driverhome_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "driverhome_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)
EVENTS_CONSUMED = Counter(
    "driverhome_events_consumed_total",
    "Consumed events by outcome (processed, skipped, duplicate, dlq, retried)",
    ["service", "group", "topic", "outcome"],
)
EVENT_HANDLING = Histogram(
    "driverhome_event_handling_seconds", "Time to handle one event", ["service", "group"]
)
EVENTS_PUBLISHED = Counter(
    "driverhome_events_published_total", "Events published", ["service", "topic"]
)
OUTBOX_PENDING = Counter(
    "driverhome_outbox_republished_total", "Outbox events republished by the sweeper", ["service"]
)
RECORDS_PURGED = Counter(
    "driverhome_records_purged_total",
    "Dedupe records (processed events, Idempotency-Keys) purged after their retention",
    ["service", "collection"],
)
