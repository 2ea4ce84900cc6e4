"""What the cases service puts on Kafka and takes from it (docs/asyncapi/cases.json): it
publishes its topic's catalogue and consumes what its app's wiring subscribes
(``common.contracts``), so this file holds only the words around them."""

from __future__ import annotations

from functools import cache

from cases.app import create_app
from cases.settings import CasesSettings
from common.asyncapi import ServiceContract
from common.contracts import service_contract

DESCRIPTION = (
    "Drivers' requests and complaints through the closed loop: intake, routing, handling, "
    "answer and revisit. Every transition of a case is announced once under the id "
    "`<case_id>:v<version>`; deadline warnings and escalations once under "
    "`<case_id>:<clock>:r<round>:<warn|breachN>` (the recurring progress clock adds "
    "`:p<period>` from its second period); compensations under their "
    "`compensation_id`. Events carry ids, categories and states, never free text or "
    "personal data. Opens a care dossier for every driver the registry announces, and notes on "
    "a case when the points service has credited one of its compensations. Follows the "
    "registry's partner links: a partner opens cases only for drivers linked to it."
)


@cache
def contract() -> ServiceContract:
    return service_contract(
        name="cases",
        title="driverhome cases",
        description=DESCRIPTION,
        app=create_app(CasesSettings()),
        own_topics=("cases.events",),
        group_id="cases",
    )


def __getattr__(name: str) -> ServiceContract:
    # ``CONTRACT`` is built on first use, not at import: it needs settings and the app.
    if name == "CONTRACT":
        return contract()
    raise AttributeError(name)
