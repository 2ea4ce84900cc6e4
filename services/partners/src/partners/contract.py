"""What the partners service puts on Kafka and takes from it (docs/asyncapi/partners.json): it
publishes its topic's catalogue and consumes what its app's wiring subscribes
(``common.contracts``), so this file holds only the words around them."""

from __future__ import annotations

from functools import cache

from common.asyncapi import ServiceContract
from common.contracts import service_contract
from partners.app import create_app
from partners.settings import PartnersSettings

DESCRIPTION = (
    "The partner edge: partner accounts (announced on `partners.events`, compacted, one "
    "state per partner), HTTP ingest for partners without Kafka (each accepted event is "
    "written to the partner's own topic), receipts learnt from `points.events`, "
    "`registry.events` and `stations.events`, and rejections read from every partner "
    "topic's `.dlq` twin."
)


@cache
def contract() -> ServiceContract:
    return service_contract(
        name="partners",
        title="driverhome partners",
        description=DESCRIPTION,
        app=create_app(PartnersSettings()),
        own_topics=("partners.events",),
        group_id="partners",
        partner_gateway=True,
    )


def __getattr__(name: str) -> ServiceContract:
    # ``CONTRACT`` is built on first use, not at import: it needs settings and the app.
    if name == "CONTRACT":
        return contract()
    raise AttributeError(name)
