"""What the points service puts on Kafka and takes from it (docs/asyncapi/points.json): it
publishes its topic's catalogue and consumes what its app's wiring subscribes
(``common.contracts``), so this file holds only the words around them."""

from __future__ import annotations

from functools import cache

from common.asyncapi import ServiceContract
from common.contracts import service_contract
from points.app import create_app
from points.settings import PointsSettings

DESCRIPTION = (
    "Points accounts, the ledger, earning rules, credit grades, the points mall, signed "
    "statements and leaderboards. Opens an account (balance 0, grade A) for every driver "
    "the registry announces, freezes or closes it when the driver is deactivated, and awards "
    "points for station services, activities and partner events under the earning rules. "
    "Every ledger entry is announced once under its own id (the entry id); a grade change "
    "is announced with its reasons."
)


@cache
def contract() -> ServiceContract:
    return service_contract(
        name="points",
        title="driverhome points",
        description=DESCRIPTION,
        app=create_app(PointsSettings()),
        own_topics=("points.events",),
        group_id="points",
    )


def __getattr__(name: str) -> ServiceContract:
    # ``CONTRACT`` is built on first use, not at import: it needs settings and the app.
    if name == "CONTRACT":
        return contract()
    raise AttributeError(name)
