"""The cases clocks on the Chinese business calendar (no store, no broker)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cases import domain, figures
from cases.calendar import BusinessCalendar, CalendarYearNotLoaded, provisional

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar([2025, 2026])


def at(y: int, m: int, d: int, h: int = 9, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=SH)


def test_spring_festival_2026_knows_its_make_up_saturdays() -> None:
    assert CAL.is_working_day(at(2026, 2, 14).date())  # Saturday, worked before the break
    assert not CAL.is_working_day(at(2026, 2, 16).date())  # Monday of the break
    assert not CAL.is_working_day(at(2026, 2, 23).date())
    assert CAL.is_working_day(at(2026, 2, 28).date())  # Saturday, worked after the break
    assert not CAL.is_working_day(at(2026, 3, 1).date())


def test_a_case_opened_the_day_before_the_break_counts_working_days_as_the_law_does() -> None:
    # Opened on the make-up Saturday before the break: that day is not counted; the break is
    # skipped; the make-up Saturday after it is a working day and the fifth.
    opened = at(2026, 2, 14, 10)
    assert CAL.working_days_after(opened, 1) == at(2026, 2, 24, 17)
    assert CAL.working_days_after(opened, 5) == at(2026, 2, 28, 17)
    assert CAL.working_days_after(opened, 6) == at(2026, 3, 2, 17)


def test_the_day_of_intake_is_not_counted_even_before_opening_hours() -> None:
    assert CAL.working_days_after(at(2026, 3, 2, 7), 1) == at(2026, 3, 3, 17)


def test_office_hours_run_across_the_break() -> None:
    # Four office hours from Friday 16:00 before the break: one on Friday, three on Saturday.
    assert CAL.add_business_seconds(at(2026, 2, 13, 16), 4 * 3600) == at(2026, 2, 14, 12)
    # From the Saturday afternoon they wait for the end of the break.
    assert CAL.add_business_seconds(at(2026, 2, 14, 16), 4 * 3600) == at(2026, 2, 24, 12)


def test_a_deadline_in_a_year_not_loaded_counts_weekends_only_and_says_so() -> None:
    only_2026 = BusinessCalendar([2026])
    # Mon 28 Dec + 5: 29, 30, 31 Dec, then Fri 1 Jan 2027 and Mon 4 Jan (no holiday known).
    due = only_2026.working_days_after(at(2026, 12, 28), 5)
    assert due == at(2027, 1, 4, 17)
    assert provisional(only_2026, at(2026, 12, 28), due) == {
        "provisional": True,
        "provisional_years": [2027],
    }
    assert provisional(CAL, at(2026, 3, 2), at(2026, 3, 9))["provisional"] is False
    with pytest.raises(CalendarYearNotLoaded):  # a year asked of the package by name
        BusinessCalendar([1999])


def test_intake_clocks_start_at_intake_and_emergencies_are_shorter() -> None:
    policy = domain.ClockPolicy()
    clocks = domain.intake_clocks(CAL, policy, at(2026, 2, 14, 10), "complaint", False)
    assert clocks["acceptance"]["due"] == at(2026, 2, 14, 14)
    assert clocks["first_response"]["due"] == at(2026, 2, 24, 17)
    assert clocks["resolution"]["due"] == CAL.working_days_after(at(2026, 2, 14, 10), 15)
    urgent = domain.intake_clocks(CAL, policy, at(2026, 2, 14, 10), "complaint", True)
    assert urgent["acceptance"]["due"] == at(2026, 2, 14, 11)


def test_a_pause_across_the_holiday_pushes_by_office_time_only() -> None:
    clocks = domain.intake_clocks(CAL, domain.ClockPolicy(), at(2026, 2, 10, 9), "question", False)
    due = clocks["resolution"]["due"]
    assert due == at(2026, 2, 24, 17)  # 5 working days: 11, 12, 13, 14 (Sat), 24
    # Paused Friday 15:00 before the break, resumed Tuesday 11:00 after it: 2 + 8 + 2 hours.
    fields, paused = domain.shift_after_pause(CAL, clocks, at(2026, 2, 13, 15), at(2026, 2, 24, 11))
    assert paused == 12 * 3600
    assert fields["clocks.resolution.due"] == CAL.add_business_seconds(due, 12 * 3600)
    assert fields["clocks.resolution.due"] == at(2026, 2, 26, 13)
    assert "clocks.first_response.due" not in fields  # the first response never pauses


def test_a_breach_before_the_pause_stays_a_breach_after_resume() -> None:
    clocks = domain.intake_clocks(CAL, domain.ClockPolicy(), at(2026, 3, 2, 9), "question", False)
    due = clocks["resolution"]["due"]
    fields, _ = domain.shift_after_pause(CAL, clocks, at(2026, 3, 10, 9), at(2026, 3, 12, 9))
    assert fields["clocks.resolution.breached"] is True
    assert "clocks.resolution.due" not in fields
    met = domain.meet(
        {"resolution": {**clocks["resolution"], "breached": True}},
        ("resolution",),
        at(2026, 3, 12, 10),
    )
    assert met["clocks.resolution.met_at"] > due


def test_warnings_and_escalations_are_due_once_each() -> None:
    opened = at(2026, 3, 2, 9)
    case = {
        "status": "in_progress",
        "round": 1,
        "announced": [],
        "clocks": domain.intake_clocks(CAL, domain.ClockPolicy(), opened, "question", False),
    }
    found, upcoming = domain.announcements_due(CAL, case, at(2026, 3, 2, 12))
    assert [a.key for a in found] == ["acceptance:r1:warn"]
    assert upcoming is not None
    later = at(2026, 3, 4, 10)  # acceptance and first response both past due by then
    found, _ = domain.announcements_due(CAL, case, later)
    keys = {a.key for a in found}
    assert {"acceptance:r1:breach1", "first_response:r1:breach1", "acceptance:r1:breach2"} <= keys
    case["announced"] = sorted(keys)
    again, _ = domain.announcements_due(CAL, case, later)
    assert again == []


def _every_moment(case: dict[str, Any], now: datetime) -> tuple[list[str], datetime | None]:
    """The announcements and next check counted from every moment of every clock."""
    found: list[str] = []
    upcoming: list[datetime] = []
    for name, clock in case["clocks"].items():
        base = domain.clock_key(name, clock, 1)
        moments = [(f"{base}:warn", clock["warn_at"])]
        for level, days in enumerate(domain.ESCALATION_DAYS, start=1):
            later = CAL.add_business_seconds(clock["due"], days * CAL.day_seconds)
            moments.append((f"{base}:breach{level}", clock["due"] if days == 0 else later))
        for key, moment in moments:
            if key not in case["announced"]:
                (found if moment <= now else []).append(key)
                if moment > now:
                    upcoming.append(moment)
    return found, min(upcoming, default=None)


def test_the_next_check_stops_at_each_clocks_first_level_ahead_without_missing_one() -> None:
    rng = random.Random(11)
    opened = at(2026, 2, 12, 15)  # across the Spring Festival break
    clocks = domain.intake_clocks(CAL, domain.ClockPolicy(), opened, "complaint", False)
    levels = ["warn", *(f"breach{n}" for n in range(1, len(domain.ESCALATION_DAYS) + 1))]
    every_key = [f"{domain.clock_key(n, c, 1)}:{lv}" for n, c in clocks.items() for lv in levels]
    for step in range(0, 60 * 24, 7):
        now = opened + timedelta(hours=step)
        announced = sorted(k for k in every_key if rng.random() < 0.3)
        case = {"status": "in_progress", "round": 1, "announced": announced, "clocks": clocks}
        found, upcoming = domain.announcements_due(CAL, case, now)
        assert ([a.key for a in found], upcoming) == _every_moment(case, now), now


def test_a_paused_clock_is_not_warned_about() -> None:
    case = {
        "status": "awaiting_driver",
        "round": 1,
        "announced": [],
        "clocks": domain.intake_clocks(
            CAL, domain.ClockPolicy(), at(2026, 3, 2, 9), "question", False
        ),
    }
    found, _ = domain.announcements_due(CAL, case, at(2026, 3, 20, 9))
    assert {a.clock for a in found} == {"acceptance", "first_response"}


def test_figures_carry_numerator_denominator_and_cohort() -> None:
    now = at(2026, 4, 1)
    ok = {"met_at": at(2026, 3, 2, 10), "due": at(2026, 3, 3, 17), "breached": False}
    late = {"met_at": at(2026, 3, 5, 10), "due": at(2026, 3, 3, 17), "breached": True}
    docs = [
        {
            "status": "closed",
            "round": 1,
            "resolved_at": now,
            "clocks": {"first_response": ok, "resolution": ok},
            "revisits": [{"satisfaction": "satisfied"}],
        },
        {
            "status": "closed",
            "round": 2,
            "resolved_at": now,
            "clocks": {"first_response": late, "resolution": late},
            "revisits": [{"satisfaction": "not_satisfied"}],
            "exempt": True,
        },
    ]
    [row] = figures.figures(docs, now, None)
    assert row["timely_reply_rate"]["numerator"] == 1
    assert row["timely_reply_rate"]["denominator"] == 2
    assert row["satisfaction_rate"]["value"] == 0.5
    assert row["redo_rate"]["numerator"] == 1
    assert row["exempted"] == 1
    assert "first-response deadline" in row["timely_reply_rate"]["cohort"]
