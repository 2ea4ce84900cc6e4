"""Opening hours in a station's time zone, with Chinese statutory holidays and the weekend days
worked to bridge them: pure, no I/O."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.settings import DISTRICT_TIMEZONE

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# date.weekday() counts from Monday as 0; the weekend starts here.
SATURDAY = WEEKDAYS.index("sat")
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Interval(BaseModel):
    """Open from ``opens`` to ``closes`` local time; ``closes`` at or before ``opens`` runs
    past midnight into the next day (``22:00``-``06:00``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: str = Field(examples=["08:00"])
    closes: str = Field(examples=["22:00"])

    @field_validator("opens", "closes")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("times are HH:MM (00:00-23:59, or 24:00 for closing)")
        return value

    @model_validator(mode="after")
    def _not_opening_at_midnight_end(self) -> Interval:
        if self.opens == "24:00":
            raise ValueError("a day cannot open at 24:00")
        return self

    @property
    def overnight(self) -> bool:
        return _minutes(self.closes) <= _minutes(self.opens)


class Hours(BaseModel):
    """Weekly opening hours in the station's time zone, with statutory-holiday hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = DISTRICT_TIMEZONE
    always_open: bool = False
    week: dict[Weekday, list[Interval]] = Field(
        default_factory=dict, description="A weekday missing here is a closed day"
    )
    holidays: list[Interval] | None = Field(
        default=None,
        description="Hours on Chinese statutory public holidays; null keeps the weekday's hours, "
        "an empty list closes the station on holidays",
    )
    makeup_workdays_as: Weekday | None = Field(
        default=None,
        description="On an adjusted working day (a weekend day worked to bridge a holiday), "
        "use this weekday's hours; null keeps the calendar weekday's",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def intervals_on(self, day: date) -> list[Interval]:
        if self.holidays is not None and is_public_holiday(day):
            return list(self.holidays)
        if self.makeup_workdays_as is not None and is_makeup_workday(day):
            return list(self.week.get(self.makeup_workdays_as, []))
        return list(self.week.get(WEEKDAYS[day.weekday()], []))

    def is_open(self, moment: datetime) -> bool:
        if self.always_open:
            return True
        local = moment.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        today = local.date()
        for interval in self.intervals_on(today):
            opens, closes = _minutes(interval.opens), _minutes(interval.closes)
            if interval.overnight:
                if minute >= opens:
                    return True
            elif opens <= minute < closes:
                return True
        # Yesterday's overnight intervals reach into the small hours of today.
        for interval in self.intervals_on(today - timedelta(days=1)):
            if interval.overnight and minute < _minutes(interval.closes):
                return True
        return False


def is_public_holiday(day: date) -> bool:
    """A Chinese statutory holiday (not an ordinary weekend), per ``chinesecalendar``."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # a year the library does not cover yet
        return False
    return bool(on_holiday and name is not None)


def is_makeup_workday(day: date) -> bool:
    """A weekend day declared a working day to bridge a holiday (调休)."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(not on_holiday and name is not None and day.weekday() >= SATURDAY)
