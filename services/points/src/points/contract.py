"""The points service's contract (docs/asyncapi/points.json): the words are here; its topics
and event types come from its topic's catalogue and its app's wiring (``common.contracts``)."""

from __future__ import annotations

from common.contracts import ContractOf
from points.app import create_app
from points.settings import PointsSettings

contract = ContractOf(
    "points",
    (
        "Points accounts, the ledger, earning rules, credit grades, the points mall, signed "
        "statements and leaderboards. Opens an account (balance 0, grade A) for every driver "
        "the registry announces, freezes or closes it when the driver is deactivated, and awards "
        "points for station services, activities and partner events under the earning rules. "
        "Every ledger entry is announced once under its own id (the entry id); a grade change "
        "is announced with its reasons."
    ),
    lambda: create_app(PointsSettings()),
)
