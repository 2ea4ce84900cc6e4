"""What the registry service puts on Kafka and takes from it (docs/asyncapi/registry.json): it
publishes its topic's catalogue and consumes what its app's wiring subscribes
(``common.contracts``), so this file holds only the words around them."""

from __future__ import annotations

from functools import cache

from common.asyncapi import ServiceContract
from common.contracts import service_contract
from registry.app import create_app
from registry.settings import RegistrySettings

DESCRIPTION = (
    "The driver register: drivers, vehicles and port passes, fleets, grids, organisations, "
    "family, consents, census. Announces every change to a driver on `registry.events` "
    "through its outbox (field names, never personal values), and registers or links the "
    "drivers the port booking system announces on its partner topic."
)


@cache
def contract() -> ServiceContract:
    return service_contract(
        name="registry",
        title="driverhome registry",
        description=DESCRIPTION,
        app=create_app(RegistrySettings()),
        own_topics=("registry.events",),
        group_id="registry",
    )


def __getattr__(name: str) -> ServiceContract:
    # ``CONTRACT`` is built on first use, not at import: it needs settings and the app.
    if name == "CONTRACT":
        return contract()
    raise AttributeError(name)
