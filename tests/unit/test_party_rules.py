"""Party life's attendance minutes (cases.party_rules): joins and leaves in any order, repeated
or lost, counted inside the meeting's time only."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cases.party_rules import Mark, attended_minutes, counts
from common.contracts import wired_consumption
from points.app import create_app
from points.settings import PointsSettings

START = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
END = START + timedelta(minutes=60)


def at(minute: float) -> datetime:
    return START + timedelta(minutes=minute)


def marks(*spans: tuple[str, float]) -> list[Mark]:
    return [Mark(action, at(minute), f"e{i}") for i, (action, minute) in enumerate(spans)]


def test_two_spans_add_up_whatever_order_the_marks_came_in() -> None:
    spans = marks(("joined", 0), ("left", 20), ("joined", 30), ("left", 50))
    for _ in range(10):
        random.shuffle(spans)
        assert attended_minutes(spans, START, END) == 40


def test_a_repeated_join_or_a_lone_leave_changes_nothing() -> None:
    spans = marks(("left", 5), ("joined", 10), ("joined", 12), ("left", 25), ("left", 40))
    assert attended_minutes(spans, START, END) == 15


def test_time_outside_the_meeting_does_not_count_and_an_open_join_counts_to_the_end() -> None:
    early_and_open = marks(("joined", -30), ("left", 10), ("joined", 45))
    assert attended_minutes(early_and_open, START, END) == 10 + 15


def test_a_reconnect_in_the_same_second_keeps_the_span() -> None:
    spans = marks(("joined", 0), ("left", 30), ("joined", 30), ("left", 60))
    assert attended_minutes(spans, START, END) == 60


def test_an_attendance_counts_from_the_share_of_the_meeting() -> None:
    assert counts(30, START, END, 0.5)
    assert not counts(29, START, END, 0.5)
    assert not counts(0, START, START + timedelta(seconds=20), 0.5)  # at least a minute


def test_member_points_are_never_service_points() -> None:
    """The points service's wiring handles no party type: member points stay in cases."""
    handled = wired_consumption(create_app(PointsSettings(environment="test")))
    party_types = {t for types in handled.values() for t in types if t.startswith("party.")}
    assert party_types == set()
    assert "volunteer.logged.v1" in {t for types in handled.values() for t in types}
