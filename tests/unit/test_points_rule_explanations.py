"""Why an earning rule does not apply (the simulator's explanation) is the same test the award
uses: ``Rule.matches`` is ``Rule.why_not(...) is None``, for every way a rule can miss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from points.rules import Rule, RuleSpec

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def rule(**spec: Any) -> Rule:
    base = {"name": "Volunteer", "event_type": "volunteer.logged.v1", "points": 10}
    return Rule(
        **RuleSpec.model_validate({**base, **spec}).model_dump(),
        rule_id="r",
        version=1,
        created_at=NOW,
        created_by="test",
    )


@pytest.mark.parametrize(
    ("spec", "event_type", "data", "kind", "reason"),
    [
        ({}, "volunteer.logged.v1", {"hours": 2}, "container_truck", None),
        ({}, "training.completed.v1", {}, "container_truck", "the rule is for volunteer"),
        ({"active": False}, "volunteer.logged.v1", {}, "container_truck", "switched off"),
        (
            {"valid_from": NOW + timedelta(days=1)},
            "volunteer.logged.v1",
            {},
            "container_truck",
            "outside the rule's validity",
        ),
        ({"driver_kinds": ["taxi"]}, "volunteer.logged.v1", {}, "container_truck", "for taxi"),
        (
            {"conditions": [{"field": "hours", "op": "gte", "value": 3}]},
            "volunteer.logged.v1",
            {"hours": 2},
            "container_truck",
            "condition not met: hours gte 3",
        ),
    ],
)
def test_why_a_rule_does_not_apply_is_what_decides_whether_it_matches(
    spec: dict[str, Any], event_type: str, data: dict[str, Any], kind: Any, reason: str | None
) -> None:
    candidate = rule(**spec)
    why = candidate.why_not(event_type, data, NOW, kind)
    assert candidate.matches(event_type, data, NOW, kind) is (why is None)
    if reason is None:
        assert why is None
    else:
        assert why is not None and reason in why
