"""The cases service's contract (docs/asyncapi/cases.json): the words are here; its topics
and event types come from its topic's catalogue and its app's wiring (``common.contracts``)."""

from __future__ import annotations

from cases.app import create_app
from cases.settings import CasesSettings
from common.contracts import ContractOf

contract = ContractOf(
    "cases",
    (
        "Drivers' requests and complaints through the closed loop: intake, routing, handling, "
        "answer and revisit. Every transition of a case is announced once under the id "
        "`<case_id>:v<version>`; deadline warnings and escalations once under "
        "`<case_id>:<clock>:r<round>:<warn|breachN>` (the recurring progress clock adds "
        "`:p<period>` from its second period); compensations under their "
        "`compensation_id`. Events carry ids, categories and states, never free text or "
        "personal data. Opens a care dossier for every driver the registry announces, and notes on "
        "a case when the points service has credited one of its compensations. Follows the "
        "registry's partner links: a partner opens cases only for drivers linked to it. "
        "Party-member life: reads the party platform's meeting joins and leaves and learning "
        "time, and the volunteer team's hours, from their partner topics (recorded only for "
        "consenting party members), and announces meetings, counted attendance and member "
        "points (a ledger of its own, never service points)."
    ),
    lambda: create_app(CasesSettings()),
)
