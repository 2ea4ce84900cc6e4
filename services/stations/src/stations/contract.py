"""The stations service's contract (docs/asyncapi/stations.json): the words are here; its topics
and event types come from its topic's catalogue and its app's wiring (``common.contracts``)."""

from __future__ import annotations

from common.contracts import ContractOf
from stations.app import create_app
from stations.settings import StationsSettings

contract = ContractOf(
    "stations",
    (
        "Stations, facilities, check-ins, occupancy and activities. Announces each counted use "
        "of a service (staff check-in or partner kiosk) as `service.used.v1` exactly once, with "
        "the check-in id as the event id, and each activity attendance as "
        "`activity.attended.v1`. Keeps whether a driver is known and active from "
        "`registry.events`; reads kiosks' `service.used.v1` from their partner topic."
    ),
    lambda: create_app(StationsSettings()),
)
