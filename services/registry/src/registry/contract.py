"""What the registry puts on Kafka and takes from it today (docs/asyncapi/registry.json)."""

from __future__ import annotations

from common.asyncapi import ServiceContract

CONTRACT = ServiceContract(
    name="registry",
    title="driverhome registry",
    description=(
        "The driver register: drivers, vehicles, fleets, consents, census. Announces each new "
        "driver on `registry.events` through its outbox."
    ),
    publishes={"registry.events": ("driver.registered.v1",)},
)
