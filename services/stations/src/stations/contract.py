"""What the stations service puts on Kafka and takes from it (docs/asyncapi/stations.json)."""

from __future__ import annotations

from common.asyncapi import PARTNER_TOPIC, ServiceContract

CONTRACT = ServiceContract(
    name="stations",
    title="driverhome stations",
    description=(
        "Stations, facilities, check-ins, occupancy and activities. Announces each counted use "
        "of a service (staff check-in or partner kiosk) as `service.used.v1` exactly once, with "
        "the check-in id as the event id, and each activity attendance as "
        "`activity.attended.v1`. Keeps whether a driver is known and active from "
        "`registry.events`; reads kiosks' `service.used.v1` from their partner topic."
    ),
    publishes={
        "stations.events": (
            "service.used.v1",
            "activity.attended.v1",
            "stations.erasure_completed.v1",
        )
    },
    consumes={
        "registry.events": ("driver.registered.v1", "driver.updated.v1", "driver.deactivated.v1"),
        PARTNER_TOPIC: ("service.used.v1",),
    },
    group_id="stations",
)
