"""Holiday notices as operator data, and deadlines counted again once a year is loaded."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from structlog.testing import capture_logs

from cases import domain
from cases.calendar import BusinessCalendar
from cases.calendars import CalendarService
from cases.clock_replay import recount, replay
from cases.domain import InvalidRequest
from cases.holiday_notice import HolidayNotice, check

SH = ZoneInfo("Asia/Shanghai")

# Invented for the tests, NOT the State Council's 2027 notice: a break in the second week of
# January (a weekday holiday inside a 15-working-day deadline from late December) and a
# make-up Saturday after it.
TEST_2027 = {
    "source": "test fixture: invented days, not an official notice",
    "holidays": [
        {"name": "元旦", "start": "2027-01-01"},
        {"name": "测试假期", "start": "2027-01-11", "end": "2027-01-13"},
    ],
    "makeup_workdays": ["2027-01-16"],
}


def at(y: int, m: int, d: int, h: int = 9, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=SH)


def notice(**changes: Any) -> HolidayNotice:
    return HolidayNotice.model_validate({**TEST_2027, **changes})


def with_2027() -> BusinessCalendar:
    calendar = BusinessCalendar([2026])
    calendar.put(check(2027, notice()))
    return calendar


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"holidays": [{"name": "元旦", "start": "2026-12-31", "end": "2027-01-01"}]}, "not in"),
        (
            {
                "holidays": [
                    {"name": "a", "start": "2027-01-01"},
                    {"name": "b", "start": "2027-01-01"},
                ]
            },
            "a holiday twice",
        ),
        ({"makeup_workdays": ["2027-01-01"]}, "both a holiday and a make-up working day"),
        ({"makeup_workdays": ["2027-01-18"]}, "not a Saturday or Sunday"),  # a Monday
        ({"makeup_workdays": ["2026-12-26"]}, "is not in 2027"),
        ({"makeup_workdays": ["2027-01-16", "2027-01-16"]}, "listed twice"),
        ({"holidays": [{"name": "x", "start": "2027-02-03", "end": "2027-02-01"}]}, "ends before"),
        ({"holidays": [{"name": "x", "start": "2027-02-01", "end": "2027-03-01"}]}, "longer than"),
    ],
)
def test_a_notice_that_breaks_a_rule_is_refused_with_the_reason(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check(2027, notice(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"makeup_workdays": [20270116]},  # a number is not read as a day
        {"holidays": [{"name": "元旦", "start": "2027-1-1"}]},
        {"holidays": [{"name": "元\x00旦", "start": "2027-01-01"}]},
        {"holidays": []},
        {"extra": 1},
    ],
)
def test_a_notice_that_is_not_well_formed_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        notice(**changes)


def test_a_notice_gives_the_days_and_a_key_that_changes_only_with_the_days() -> None:
    year = check(2027, notice())
    assert year.holidays[date(2027, 1, 12)] == "测试假期"
    assert year.makeup_workdays == {date(2027, 1, 16)}
    renamed = check(2027, notice(source="another source"))
    assert renamed.key == year.key
    moved = check(2027, notice(makeup_workdays=["2027-01-17"]))
    assert moved.key != year.key


def test_a_clock_into_a_missing_year_is_provisional_and_counted_again_when_it_is_loaded() -> None:
    policy = domain.ClockPolicy()
    without = BusinessCalendar([2026])
    clocks = domain.intake_clocks(without, policy, at(2026, 12, 20, 10), "complaint", False)
    resolution = clocks["resolution"]
    # Sun 20 Dec: 21-25, 28-31 Dec (9), then 1, 4-8 Jan on weekdays only: the 15th is 8 Jan.
    assert resolution["due"] == at(2027, 1, 8, 17)
    assert resolution["provisional"] and resolution["provisional_years"] == [2027]
    assert not clocks["acceptance"]["provisional"]

    loaded = with_2027()
    fresh = replay(loaded, resolution)
    assert fresh is not None
    # 1 Jan is off (4-8 Jan are the 10th-14th), so are 11-13 Jan: the 15th is 14 Jan.
    assert fresh["due"] == at(2027, 1, 14, 17)
    assert fresh["due"] == loaded.working_days_after(at(2026, 12, 20, 10), 15)
    assert fresh["provisional"] is False

    case = {"clocks": clocks}
    fields, changes, after = recount(loaded, case)
    assert [c["clock"] for c in changes] == ["resolution"]  # the others end in 2026
    assert fields["clocks.resolution.due"] == at(2027, 1, 14, 17)
    assert after["clocks"]["resolution"]["provisional"] is False
    # Counted again with the same days, nothing changes.
    assert recount(loaded, after)[1] == []


def test_counting_again_replays_pauses_and_extensions_in_order() -> None:
    without, loaded = BusinessCalendar([2026]), with_2027()
    policy = domain.ClockPolicy()

    def history(calendar: BusinessCalendar) -> dict[str, Any]:
        clocks = domain.intake_clocks(calendar, policy, at(2026, 12, 21, 10), "question", False)
        fields, _ = domain.shift_after_pause(
            calendar, clocks, at(2026, 12, 23, 15), at(2027, 1, 12, 10)
        )
        clock = dict(clocks["resolution"])
        for path, value in fields.items():
            if path.startswith("clocks.resolution."):
                clock[path.rsplit(".", 1)[1]] = value
        extended = calendar.working_days_after(clock["due"], 3)
        clock["ops"] = [*clock["ops"], {"extend": 3}]
        clock["due"] = extended
        return clock

    provisional_clock = history(without)
    fresh = replay(loaded, provisional_clock)
    assert fresh is not None
    assert fresh["due"] == history(loaded)["due"]
    assert fresh["due"] != provisional_clock["due"]


def test_next_years_notice_is_missed_from_the_first_of_november() -> None:
    calendars = CalendarService(
        store=None,  # type: ignore[arg-type]
        cases=None,  # type: ignore[arg-type]
        calendar=BusinessCalendar([2026]),
        clock=lambda: at(2026, 10, 31),
        service_name="cases-unit",
    )

    def gauge() -> float | None:
        return REGISTRY.get_sample_value(
            "driverhome_cases_calendar_next_year_missing", {"service": "cases-unit"}
        )

    with capture_logs() as logs:
        assert calendars.next_year_missing(at(2026, 10, 31, 23, 59)) is False
        assert gauge() == 0
        assert not [entry for entry in logs if entry["log_level"] == "warning"]
        assert calendars.next_year_missing(at(2026, 11, 1, 0, 1)) is True
        assert gauge() == 1
        calendars.next_year_missing(at(2026, 11, 1, 12))  # once a day is enough
        calendars.next_year_missing(at(2026, 11, 2, 9))
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 2 and warnings[0]["years"] == [2027]

    calendars.calendar.put(check(2027, notice()))
    assert calendars.next_year_missing(at(2026, 12, 20)) is False
    assert gauge() == 0
