"""What the registry puts on Kafka and takes from it today (docs/asyncapi/registry.json)."""

from __future__ import annotations

from common.asyncapi import PARTNER_TOPIC, ServiceContract

CONTRACT = ServiceContract(
    name="registry",
    title="driverhome registry",
    description=(
        "The driver register: drivers, vehicles and port passes, fleets, grids, organisations, "
        "family, consents, census. Announces every change to a driver on `registry.events` "
        "through its outbox (field names, never personal values), and registers or links the "
        "drivers the port booking system announces on its partner topic."
    ),
    publishes={
        "registry.events": (
            "driver.registered.v1",
            "driver.updated.v1",
            "driver.verified.v1",
            "driver.deactivated.v1",
        )
    },
    consumes={
        PARTNER_TOPIC: ("driver.registered.v1",),
        # Each service's answer to an erasure, for the driver's erasure receipt.
        "points.events": ("points.erasure_completed.v1",),
        "stations.events": ("stations.erasure_completed.v1",),
        "notify.events": ("notify.erasure_completed.v1",),
        "cases.events": ("cases.erasure_completed.v1",),
        "partners.events": ("partners.erasure_completed.v1",),
    },
    group_id="registry",
)
