"""The business calendar: Chinese public holidays, make-up working days and office hours.

Years are loaded explicitly (from ``chinesecalendar``); asking about a day in a year that is not
loaded raises :class:`CalendarYearNotLoaded` instead of guessing that it is an ordinary year,
because a weekday that is really a holiday would silently shorten a driver's time limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chinese_calendar import constants


class CalendarYearNotLoaded(LookupError):
    """A deadline fell in a year whose holidays and make-up working days are not loaded."""


class BusinessCalendar:
    def __init__(
        self,
        years: Iterable[int],
        *,
        timezone: str = "Asia/Shanghai",
        opens: time = time(9, 0),
        closes: time = time(17, 0),
    ) -> None:
        self.years = frozenset(years)
        known = {d.year for d in constants.holidays} & {d.year for d in constants.workdays}
        missing = sorted(self.years - known)
        if missing:
            raise CalendarYearNotLoaded(f"no holiday data for {missing}")
        self._holidays = frozenset(d for d in constants.holidays if d.year in self.years)
        self._makeup = frozenset(d for d in constants.workdays if d.year in self.years)
        self.tz = ZoneInfo(timezone)
        if closes <= opens:
            raise ValueError("the office must close after it opens")
        self.opens = opens
        self.closes = closes

    @property
    def day_seconds(self) -> float:
        span = datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)
        return span.total_seconds()

    def is_working_day(self, day: date) -> bool:
        if day.year not in self.years:
            raise CalendarYearNotLoaded(f"the calendar of {day.year} is not loaded")
        if day in self._makeup:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

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
        day = self.local(moment).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return self.close_of_business(day)

    def add_business_seconds(self, moment: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of office time after ``moment`` (0 → the next open moment)."""
        current = self.local(moment)
        remaining = seconds
        while True:
            day = current.date()
            if self.is_working_day(day):
                start = max(current, self._at(day, self.opens))
                end = self._at(day, self.closes)
                if start < end:
                    available = (end - start).total_seconds()
                    if remaining <= available:
                        return start + timedelta(seconds=remaining)
                    remaining -= available
            current = self._at(day + timedelta(days=1), self.opens)

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Office time from ``start`` to ``end`` (0 when ``end`` is not later)."""
        if end <= start:
            return 0.0
        current = self.local(start)
        stop = self.local(end)
        total = 0.0
        while current < stop:
            day = current.date()
            if self.is_working_day(day):
                lo = max(current, self._at(day, self.opens))
                hi = min(stop, self._at(day, self.closes))
                if hi > lo:
                    total += (hi - lo).total_seconds()
            current = self._at(day + timedelta(days=1), time(0, 0))
        return total
