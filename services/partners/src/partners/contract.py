"""The partners service's contract (docs/asyncapi/partners.json): the words are here; its topics
and event types come from its topic's catalogue and its app's wiring (``common.contracts``)."""

from __future__ import annotations

from common.contracts import ContractOf
from partners.app import create_app
from partners.settings import PartnersSettings

contract = ContractOf(
    "partners",
    (
        "The partner edge: partner accounts (announced on `partners.events`, compacted, one "
        "state per partner), HTTP ingest for partners without Kafka (each accepted event is "
        "written to the partner's own topic), receipts learnt from `points.events`, "
        "`registry.events` and `stations.events`, and rejections read from every partner "
        "topic's `.dlq` twin."
    ),
    lambda: create_app(PartnersSettings()),
    own_topics=("partners.events",),
    partner_gateway=True,
)
