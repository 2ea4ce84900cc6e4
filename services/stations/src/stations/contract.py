"""What the stations service puts on Kafka and takes from it today (docs/asyncapi/stations.json)."""

from __future__ import annotations

from common.asyncapi import ServiceContract

CONTRACT = ServiceContract(
    name="stations",
    title="driverhome stations",
    description=(
        "Stations, facilities, check-ins, occupancy and activities. It neither publishes nor "
        "consumes yet: `stations.events` (service.used.v1, activity.attended.v1) and the "
        "consumption of `registry.events` and partner `service.used.v1` arrive with their issues."
    ),
)
