"""A year's holiday notice as the State Council publishes it, and the rules it must keep.

The same model reads an operator's ``PUT /v1/calendars/{year}`` body and a notice file
(``cases/holiday_notices/<year>.json``). Pure values and rules; no I/O.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import Field

from cases.calendar import YearCalendar
from cases.domain import InvalidRequest
from common.schemas import Day, Name, RequestModel

Document = dict[str, Any]
# The longest break a notice has ever given is nine days; a range far longer is a typo.
MAX_RANGE_DAYS = 15
SATURDAY = 5  # date.weekday(): Monday is 0


class HolidayRange(RequestModel):
    name: Name = Field(min_length=1, max_length=30, examples=["春节"])
    start: Day
    end: Day | None = Field(default=None, description="The last day off (inclusive); default start")


class HolidayNotice(RequestModel):
    source: Name = Field(
        min_length=1,
        max_length=300,
        description="Where the dates come from: the notice's title, number and date",
        examples=["国务院办公厅关于2027年部分节假日安排的通知"],
    )
    holidays: list[HolidayRange] = Field(min_length=1, max_length=20)
    makeup_workdays: list[Day] = Field(
        default_factory=list,
        max_length=20,
        description="Weekend days worked to make up for a break (调休上班)",
    )


class NoticeFile(HolidayNotice):
    year: int


def days_of(item: HolidayRange) -> list[date]:
    end = item.end or item.start
    return [item.start + timedelta(days=n) for n in range((end - item.start).days + 1)]


def check(year: int, notice: HolidayNotice) -> YearCalendar:
    """The year the notice describes, or every way it breaks the rules (one message)."""
    problems: list[str] = []
    holidays = _holidays(year, notice, problems)
    makeup = _makeup_days(year, notice, holidays, problems)
    if problems:
        raise InvalidRequest("; ".join(problems))
    return YearCalendar(
        year=year, holidays=holidays, makeup_workdays=frozenset(makeup), origin="notice"
    )


def _holidays(year: int, notice: HolidayNotice, problems: list[str]) -> dict[date, str]:
    holidays: dict[date, str] = {}
    for item in notice.holidays:
        end = item.end or item.start
        if end < item.start:
            problems.append(f"{item.name}: ends before it starts")
            continue
        if (end - item.start).days >= MAX_RANGE_DAYS:
            problems.append(f"{item.name}: longer than {MAX_RANGE_DAYS} days")
            continue
        for day in days_of(item):
            if day.year != year:
                problems.append(f"{item.name}: {day} is not in {year}")
            elif day in holidays:
                problems.append(f"{day} is a holiday twice ({holidays[day]}, {item.name})")
            else:
                holidays[day] = item.name
    return holidays


def _makeup_days(
    year: int, notice: HolidayNotice, holidays: dict[date, str], problems: list[str]
) -> set[date]:
    makeup: set[date] = set()
    for day in notice.makeup_workdays:
        if day.year != year:
            problems.append(f"make-up working day {day} is not in {year}")
        elif day in makeup:
            problems.append(f"make-up working day {day} is listed twice")
        elif day in holidays:
            problems.append(f"{day} is both a holiday and a make-up working day")
        elif day.weekday() < SATURDAY:
            problems.append(f"make-up working day {day} is not a Saturday or Sunday")
        makeup.add(day)
    return makeup


def as_document(year: int, notice: HolidayNotice) -> Document:
    """How a notice is stored (days as ISO strings: the store has no date-only type)."""
    return {
        "year": year,
        "source": notice.source,
        "holidays": [
            {"name": h.name, "start": h.start.isoformat(), "end": (h.end or h.start).isoformat()}
            for h in sorted(notice.holidays, key=lambda h: h.start)
        ],
        "makeup_workdays": sorted(d.isoformat() for d in notice.makeup_workdays),
    }


def from_document(doc: Document) -> YearCalendar:
    notice = HolidayNotice.model_validate(
        {k: doc[k] for k in ("source", "holidays", "makeup_workdays")}
    )
    return check(int(doc["year"]), notice)


def changes(before: YearCalendar | None, after: YearCalendar) -> Document:
    """What a load changed, for the audit trail."""
    old_holidays = set(before.holidays) if before else set()
    old_makeup = set(before.makeup_workdays) if before else set()
    return {
        "holidays_added": sorted(d.isoformat() for d in set(after.holidays) - old_holidays),
        "holidays_removed": sorted(d.isoformat() for d in old_holidays - set(after.holidays)),
        "makeup_added": sorted(d.isoformat() for d in after.makeup_workdays - old_makeup),
        "makeup_removed": sorted(d.isoformat() for d in old_makeup - after.makeup_workdays),
    }
