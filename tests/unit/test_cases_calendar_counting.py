"""The calendar's counting by running totals gives what counting day by day gives.

The oracle below is the day-by-day counting the calendar used before issue 19: it walks every
day between two moments, so it is slow but plainly right. Both are asked the same questions
over years with and without their holidays loaded, across year ends and make-up days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.calendar import BusinessCalendar, YearCalendar

# 2025 and 2026 from the holiday library, 2027 as a loaded notice (invented days), 2028 not
# loaded (weekends only).
INVENTED_2027 = YearCalendar(
    year=2027,
    holidays={date(2027, 1, 1): "元旦", date(2027, 1, 11): "测试", date(2027, 1, 12): "测试"},
    makeup_workdays=frozenset({date(2027, 1, 16)}),
    origin="test",
)
CALENDARS = [
    BusinessCalendar([2025, 2026, INVENTED_2027]),
    # Other hours in a zone with daylight saving: office days need not all be equally long.
    BusinessCalendar([2026], timezone="Europe/Berlin", opens=time(8, 30), closes=time(12, 15)),
]
moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 6, 30), timezones=st.just(UTC)
)
calendars = st.sampled_from(CALENDARS)
MICROSECOND = timedelta(microseconds=1)


def walk_add(cal: BusinessCalendar, moment: datetime, seconds: float) -> datetime:
    current = cal.local(moment)
    remaining = seconds
    while True:
        day = current.date()
        hours = cal.office_hours(day)
        if hours is not None:
            start = max(current, hours[0])
            if start < hours[1]:
                available = (hours[1] - start).total_seconds()
                if remaining <= available:
                    return start + timedelta(seconds=remaining)
                remaining -= available
        current = datetime.combine(day + timedelta(days=1), cal.opens, tzinfo=cal.tz)


def walk_between(cal: BusinessCalendar, start: datetime, end: datetime) -> float:
    if end <= start:
        return 0.0
    current, stop, total = cal.local(start), cal.local(end), 0.0
    while current < stop:
        day = current.date()
        hours = cal.office_hours(day)
        if hours is not None:
            lo, hi = max(current, hours[0]), min(stop, hours[1])
            if hi > lo:
                total += (hi - lo).total_seconds()
        current = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=cal.tz)
    return total


def walk_working_days(cal: BusinessCalendar, moment: datetime, days: int) -> datetime:
    day, counted = cal.local(moment).date(), 0
    while counted < days:
        day += timedelta(days=1)
        counted += cal.office_hours(day) is not None
    return cal.close_of_business(day)


@settings(max_examples=400, deadline=None)
@given(calendars, moments, st.floats(min_value=0, max_value=120 * 8 * 3600))
def test_adding_office_time(cal: BusinessCalendar, moment: datetime, seconds: float) -> None:
    # Summing a year's days at once rounds a fraction of a second differently from taking them
    # off one by one: a microsecond either way (the store keeps milliseconds).
    got, walked = cal.add_business_seconds(moment, seconds), walk_add(cal, moment, seconds)
    assert abs(got - walked) <= MICROSECOND


@settings(max_examples=400, deadline=None)
@given(calendars, moments, st.integers(min_value=0, max_value=400 * 24 * 3600))
def test_office_time_between(cal: BusinessCalendar, start: datetime, gap: int) -> None:
    end = start + timedelta(seconds=gap)
    assert cal.business_seconds_between(start, end) == pytest.approx(
        walk_between(cal, start, end), abs=1e-6
    )
    assert cal.business_seconds_between(end, start) == 0.0


@settings(max_examples=400, deadline=None)
@given(calendars, moments, st.integers(min_value=1, max_value=300))
def test_working_days_after(cal: BusinessCalendar, moment: datetime, days: int) -> None:
    assert cal.working_days_after(moment, days) == walk_working_days(cal, moment, days)


@pytest.mark.parametrize(
    ("moment", "seconds", "expected"),
    [
        # Friday 31 Dec 2027 16:00 (Shanghai): one hour that day, two on Mon 3 Jan 2028.
        (datetime(2027, 12, 31, 8, 0, tzinfo=UTC), 3 * 3600, datetime(2028, 1, 3, 3, 0)),
        # Exactly the rest of the day: the close, not the next opening.
        (datetime(2026, 3, 2, 1, 0, tzinfo=UTC), 8 * 3600, datetime(2026, 3, 2, 9, 0)),
        # Nothing to count on a Sunday: Monday's opening.
        (datetime(2026, 3, 1, 4, 0, tzinfo=UTC), 0, datetime(2026, 3, 2, 1, 0)),
        # The invented 2027 break (11 and 12 January) and the make-up Saturday are counted.
        (datetime(2027, 1, 8, 1, 0, tzinfo=UTC), 2 * 8 * 3600, datetime(2027, 1, 13, 9, 0)),
    ],
)
def test_year_ends_boundaries_and_loaded_notices(
    moment: datetime, seconds: float, expected: datetime
) -> None:
    got = CALENDARS[0].add_business_seconds(moment, seconds)
    assert got == expected.replace(tzinfo=UTC)
    assert got == walk_add(CALENDARS[0], moment, seconds)


def test_a_loaded_year_changes_the_running_totals() -> None:
    cal = BusinessCalendar([2026])
    friday = datetime(2027, 1, 8, 1, 0, tzinfo=UTC)
    before = cal.add_business_seconds(friday, 2 * 8 * 3600)  # weekends only: Mon 11th
    cal.put(INVENTED_2027)
    after = cal.add_business_seconds(friday, 2 * 8 * 3600)  # 11th and 12th are holidays
    assert (before.date(), after.date()) == (date(2027, 1, 11), date(2027, 1, 13))
