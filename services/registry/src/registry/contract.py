"""The registry service's contract (docs/asyncapi/registry.json): the words are here; its topics
and event types come from its topic's catalogue and its app's wiring (``common.contracts``)."""

from __future__ import annotations

from common.contracts import ContractOf
from registry.app import create_app
from registry.settings import RegistrySettings

contract = ContractOf(
    "registry",
    (
        "The driver register: drivers, vehicles and port passes, fleets, grids, organisations, "
        "family, consents, census. Announces every change to a driver on `registry.events` "
        "through its outbox (field names, never personal values), and registers or links the "
        "drivers the port booking system announces on its partner topic."
    ),
    lambda: create_app(RegistrySettings()),
)
