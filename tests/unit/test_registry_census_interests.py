"""A census's interests are short codes, and a campaign's feedback counts the most named ones
only: a station naming thousands of long interests could otherwise grow the feedback event
past what the broker takes, and the outbox would hold it forever."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from registry.api.census_schemas import SurveyRequest
from registry.census_survey import MAX_INTERESTS, _Tally


@pytest.mark.parametrize("interest", ["Table Tennis", "乒乓球", "x" * 41, "1reading", ""])
def test_an_interest_is_a_short_code(interest: str) -> None:
    with pytest.raises(ValidationError):
        SurveyRequest.model_validate({"interests": [interest]})


def test_the_codes_people_name_are_taken() -> None:
    survey = SurveyRequest.model_validate({"interests": ["table_tennis", "reading", "photo_2"]})
    assert survey.interests == ["table_tennis", "reading", "photo_2"]


def test_a_units_feedback_counts_the_most_named_interests_only() -> None:
    tally = _Tally()
    tally.interests = Counter({f"interest_{n:03d}": 1000 - n for n in range(MAX_INTERESTS + 30)})
    counted = tally.result("grid-1").interests
    assert len(counted) == MAX_INTERESTS
    assert min(counted.values()) > 1000 - MAX_INTERESTS - 1, "the most named are kept"
