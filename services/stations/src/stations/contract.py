"""What the stations service puts on Kafka and takes from it (docs/asyncapi/stations.json): it
publishes its topic's catalogue and consumes what its app's wiring subscribes
(``common.contracts``), so this file holds only the words around them."""

from __future__ import annotations

from functools import cache

from common.asyncapi import ServiceContract
from common.contracts import service_contract
from stations.app import create_app
from stations.settings import StationsSettings

DESCRIPTION = (
    "Stations, facilities, check-ins, occupancy and activities. Announces each counted use "
    "of a service (staff check-in or partner kiosk) as `service.used.v1` exactly once, with "
    "the check-in id as the event id, and each activity attendance as "
    "`activity.attended.v1`. Keeps whether a driver is known and active from "
    "`registry.events`; reads kiosks' `service.used.v1` from their partner topic."
)


@cache
def contract() -> ServiceContract:
    return service_contract(
        name="stations",
        title="driverhome stations",
        description=DESCRIPTION,
        app=create_app(StationsSettings()),
        own_topics=("stations.events",),
        group_id="stations",
    )


def __getattr__(name: str) -> ServiceContract:
    # ``CONTRACT`` is built on first use, not at import: it needs settings and the app.
    if name == "CONTRACT":
        return contract()
    raise AttributeError(name)
