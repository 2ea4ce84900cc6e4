"""What the notify service puts on Kafka and takes from it (docs/asyncapi/notify.json): it
publishes its topic's catalogue and consumes what its app's wiring subscribes
(``common.contracts``), so this file holds only the words around them."""

from __future__ import annotations

from functools import cache

from common.asyncapi import ServiceContract
from common.contracts import service_contract
from notify.app import create_app
from notify.settings import NotifySettings

DESCRIPTION = (
    "Templates, preferences, inbox, deliveries and broadcasts. Turns domain facts into "
    "driver notifications (welcome, points, grade, activity) on the inbox, SMS and partner "
    "webhooks, keeps the driver facts broadcast segments need (fleet, grade, active), and "
    "announces every delivery and failure on `notify.events` through its outbox. Broadcast "
    "fan-out runs through its own work topic `notify.broadcasts` (internal, not for "
    "partners)."
)


@cache
def contract() -> ServiceContract:
    return service_contract(
        name="notify",
        title="driverhome notify",
        description=DESCRIPTION,
        app=create_app(NotifySettings()),
        own_topics=("notify.events",),
        group_id="notify",
    )


def __getattr__(name: str) -> ServiceContract:
    # ``CONTRACT`` is built on first use, not at import: it needs settings and the app.
    if name == "CONTRACT":
        return contract()
    raise AttributeError(name)
