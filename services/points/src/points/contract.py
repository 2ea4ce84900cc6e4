"""What the points service puts on Kafka and takes from it today (docs/asyncapi/points.json)."""

from __future__ import annotations

from common.asyncapi import ServiceContract

CONTRACT = ServiceContract(
    name="points",
    title="driverhome points",
    description=(
        "Points accounts, the ledger, earning rules, credit grades and the mall. Opens an "
        "account (balance 0, grade A) for every driver the registry announces."
    ),
    consumes={"registry.events": ("driver.registered.v1",)},
    group_id="points",
)
