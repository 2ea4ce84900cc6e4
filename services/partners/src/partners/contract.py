"""What the partners service puts on Kafka and takes from it (docs/asyncapi/partners.json)."""

from __future__ import annotations

from common.asyncapi import PARTNER_TOPIC, ServiceContract
from common.events import PARTNER_EVENTS

CONTRACT = ServiceContract(
    name="partners",
    title="driverhome partners",
    description=(
        "The partner edge: partner accounts (announced on `partners.events`, compacted, one "
        "state per partner), HTTP ingest for partners without Kafka (each accepted event is "
        "written to the partner's own topic), receipts learnt from `points.events`, "
        "`registry.events` and `stations.events`, and rejections read from every partner "
        "topic's `.dlq` twin."
    ),
    publishes={
        "partners.events": (
            "partner.registered.v1",
            "partner.updated.v1",
            "partner.suspended.v1",
            "partner.reinstated.v1",
            "partners.erasure_completed.v1",
        ),
        PARTNER_TOPIC: tuple(PARTNER_EVENTS),
    },
    consumes={
        "points.events": (
            "points.awarded.v1",
            "points.grade_changed.v1",
            "points.event_parked.v1",
        ),
        "registry.events": (
            "driver.registered.v1",
            "driver.updated.v1",
            "driver.deactivated.v1",
        ),
        "stations.events": ("service.used.v1",),
    },
    group_id="partners",
    partner_gateway=True,
)
