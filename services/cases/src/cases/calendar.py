"""The business calendar: Chinese public holidays, make-up working days and office hours.

A year's holidays come from ``chinesecalendar`` (the years it knows) or from the State
Council's notice as an operator loaded it (``cases.calendars``), which wins. A day in a year
that is not loaded counts on weekends only: the answer is marked *provisional* by the clocks
(see :func:`provisional`) and recomputed once the year is loaded, because refusing to count
would stop intake altogether from mid-December until the next notice is published.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chinese_calendar import constants

LIBRARY = "chinesecalendar"
SATURDAY = 5  # date.weekday(): Monday is 0; the weekend starts here


class CalendarYearNotLoaded(LookupError):
    """A year the holiday library does not know was asked for by name."""


@dataclass(frozen=True)
class YearCalendar:
    """One year's public holidays (day -> name) and make-up working days."""

    year: int
    holidays: Mapping[date, str]
    makeup_workdays: frozenset[date]
    origin: str = LIBRARY
    digest: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", days_digest(self.holidays, self.makeup_workdays))

    @property
    def key(self) -> str:
        """Names the day sets clocks were counted with: a changed year has a new key."""
        return f"{self.year}.{self.digest[:12]}"


def days_digest(holidays: Iterable[date], makeup_workdays: Iterable[date]) -> str:
    # Only the days: a renamed holiday counts no clock differently.
    body = {
        "holidays": sorted(d.isoformat() for d in holidays),
        "makeup_workdays": sorted(d.isoformat() for d in makeup_workdays),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def library_years() -> list[int]:
    known = {d.year for d in constants.holidays} & {d.year for d in constants.workdays}
    return sorted(known)


def from_library(year: int) -> YearCalendar:
    if year not in library_years():
        raise CalendarYearNotLoaded(f"{LIBRARY} has no holiday data for {year}")
    return YearCalendar(
        year=year,
        holidays={d: str(name) for d, name in constants.holidays.items() if d.year == year},
        makeup_workdays=frozenset(d for d in constants.workdays if d.year == year),
    )


# Days whose office hours a calendar keeps (about eleven years of them).
OFFICE_DAYS_KEPT = 4096


@dataclass(frozen=True)
class _YearSums:
    """A year's office time and working days as running totals from 1 January, so a
    deadline weeks away is found by bisection instead of day by day (issue 19: an intake
    counts four deadlines, and day-by-day counting was a third of its CPU)."""

    first: int  # date.toordinal() of 1 January
    seconds: list[float]  # seconds[i]: office seconds in the year's days before day i
    workdays: list[int]  # workdays[i]: working days in the year's days before day i

    def index(self, day: date) -> int:
        return day.toordinal() - self.first

    @property
    def days(self) -> int:
        return len(self.seconds) - 1


class BusinessCalendar:
    def __init__(
        self,
        years: Iterable[int | YearCalendar] = (),
        *,
        timezone: str = "Asia/Shanghai",
        opens: time = time(9, 0),
        closes: time = time(17, 0),
    ) -> None:
        # Each day's office hours as moments, None on a day off: an intake counts four
        # deadlines over the same weeks, day by day (issue 19). Forgotten when a year changes.
        self._office: dict[date, tuple[datetime, datetime] | None] = {}
        self._sums: dict[int, _YearSums] = {}
        self._years: dict[int, YearCalendar] = {}
        for item in years:
            self.put(item if isinstance(item, YearCalendar) else from_library(item))
        self.tz = ZoneInfo(timezone)
        if closes <= opens:
            raise ValueError("the office must close after it opens")
        self.opens = opens
        self.closes = closes

    # ---- which years are loaded --------------------------------------------------------------

    def put(self, year: YearCalendar) -> bool:
        """Load (or replace) a year; False when it was loaded with the same days already."""
        current = self._years.get(year.year)
        self._years[year.year] = year
        self._office.clear()
        self._sums.clear()
        return current is None or current.digest != year.digest or current.origin != year.origin

    def year(self, year: int) -> YearCalendar | None:
        return self._years.get(year)

    @property
    def years(self) -> frozenset[int]:
        return frozenset(self._years)

    def loaded(self, year: int) -> bool:
        return year in self._years

    def keys(self, years: Iterable[int]) -> list[str]:
        return sorted(self._years[y].key for y in set(years) if y in self._years)

    # ---- counting ------------------------------------------------------------------------

    @property
    def day_seconds(self) -> float:
        span = datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)
        return span.total_seconds()

    def is_working_day(self, day: date) -> bool:
        loaded = self._years.get(day.year)
        if loaded is not None and day in loaded.makeup_workdays:
            return True
        return day.weekday() < SATURDAY and (loaded is None or day not in loaded.holidays)

    def office_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """When the office opens and closes on ``day``; None when it is not a working day."""
        if day in self._office:
            return self._office[day]
        hours = (
            (self._at(day, self.opens), self._at(day, self.closes))
            if self.is_working_day(day)
            else None
        )
        if len(self._office) >= OFFICE_DAYS_KEPT:
            self._office.clear()
        self._office[day] = hours
        return hours

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def years_between(self, start: datetime, end: datetime) -> list[int]:
        first, last = self.local(start).year, self.local(end).year
        return list(range(min(first, last), max(first, last) + 1))

    def missing_between(self, start: datetime, end: datetime) -> list[int]:
        """The years counted between two moments that are counted on weekends only."""
        return [y for y in self.years_between(start, end) if y not in self._years]

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz)

    def close_of_business(self, day: date) -> datetime:
        return self._at(day, self.closes)

    def working_days_after(self, moment: datetime, days: int) -> datetime:
        """Close of business of the ``days``-th working day after the day of ``moment``.

        As the law counts it: the day of intake is not counted, whatever the hour.
        """
        if days < 1:
            raise ValueError("count at least one working day")
        day = self.local(moment).date() + timedelta(days=1)
        remaining = days
        while True:
            sums = self._year_sums(day.year)
            i = sums.index(day)
            target = sums.workdays[i] + remaining
            j = bisect_left(sums.workdays, target, lo=i + 1)
            if j <= sums.days:
                return self.close_of_business(date.fromordinal(sums.first + j - 1))
            remaining = target - sums.workdays[-1]
            day = date(day.year + 1, 1, 1)

    def add_business_seconds(self, moment: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of office time after ``moment`` (0 → the next open moment)."""
        current = self.local(moment)
        remaining = seconds
        day = current.date()
        hours = self.office_hours(day)
        if hours is not None:
            start = max(current, hours[0])
            if start < hours[1]:
                available = (hours[1] - start).total_seconds()
                if remaining <= available:
                    return start + timedelta(seconds=remaining)
                remaining -= available
        day += timedelta(days=1)
        while True:
            sums = self._year_sums(day.year)
            i = sums.index(day)
            target = sums.seconds[i] + remaining
            # The first day whose close reaches the target. Nothing left to count (or too
            # little to move the total) reaches it on a day off too: on to the next opening.
            j = bisect_left(sums.seconds, target, lo=i + 1)
            while j <= sums.days and sums.seconds[j] == sums.seconds[j - 1]:
                j += 1
            if j <= sums.days:
                hours = self.office_hours(date.fromordinal(sums.first + j - 1))
                assert hours is not None  # the running total rose on that day
                return hours[0] + timedelta(seconds=target - sums.seconds[j - 1])
            remaining = target - sums.seconds[-1]
            day = date(day.year + 1, 1, 1)

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Office time from ``start`` to ``end`` (0 when ``end`` is not later)."""
        if end <= start:
            return 0.0
        current = self.local(start)
        stop = self.local(end)
        first, last = current.date(), stop.date()
        if first == last:
            return self._office_between(first, current, stop)
        return (
            self._office_between(first, current, None)
            + self._whole_days(first + timedelta(days=1), last)
            + self._office_between(last, None, stop)
        )

    def _office_between(self, day: date, lo: datetime | None, hi: datetime | None) -> float:
        """Office seconds on ``day`` between two moments of it (None: the whole day's side)."""
        hours = self.office_hours(day)
        if hours is None:
            return 0.0
        opened = hours[0] if lo is None else max(lo, hours[0])
        closed = hours[1] if hi is None else min(hi, hours[1])
        return (closed - opened).total_seconds() if closed > opened else 0.0

    def _whole_days(self, first: date, last: date) -> float:
        """Office seconds in the whole days from ``first`` up to, not including, ``last``."""
        total = 0.0
        while first < last:
            sums = self._year_sums(first.year)
            following = date(first.year + 1, 1, 1)
            until = sums.days if last >= following else sums.index(last)
            total += sums.seconds[until] - sums.seconds[sums.index(first)]
            first = following
        return total

    def _year_sums(self, year: int) -> _YearSums:
        sums = self._sums.get(year)
        if sums is None:
            day = date(year, 1, 1)
            seconds, workdays = [0.0], [0]
            while day.year == year:
                hours = self.office_hours(day)
                length = (hours[1] - hours[0]).total_seconds() if hours else 0.0
                seconds.append(seconds[-1] + length)
                workdays.append(workdays[-1] + (hours is not None))
                day += timedelta(days=1)
            sums = self._sums[year] = _YearSums(date(year, 1, 1).toordinal(), seconds, workdays)
        return sums


def provisional(calendar: BusinessCalendar, start: datetime, due: datetime) -> dict[str, Any]:
    """The fields a clock carries to say whether its deadline was counted on weekends only."""
    missing = calendar.missing_between(start, due)
    return {"provisional": bool(missing), "provisional_years": missing}
