"""Opening hours: across midnight, on Chinese public holidays, in the station's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from stations.domain import LastSeen, impossible_travel
from stations.hours import Hours, Interval, is_public_holiday

BEIJING = timezone(timedelta(hours=8))


def at(day: str, hhmm: str) -> datetime:
    """A moment in Beijing time."""
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.fromisoformat(day).replace(hour=hours, minute=minutes, tzinfo=BEIJING)


NIGHT_SHIFT = Hours(
    week={
        day: [Interval(opens="22:00", closes="06:00")]
        for day in ("mon", "tue", "wed", "thu", "fri")
    }
)


def test_an_overnight_interval_is_open_until_the_next_morning() -> None:
    # 2026-03-09 is a Monday.
    assert not NIGHT_SHIFT.is_open(at("2026-03-09", "21:59"))
    assert NIGHT_SHIFT.is_open(at("2026-03-09", "22:00"))
    assert NIGHT_SHIFT.is_open(at("2026-03-09", "23:59"))
    assert NIGHT_SHIFT.is_open(at("2026-03-10", "00:00"))
    assert NIGHT_SHIFT.is_open(at("2026-03-10", "05:59"))
    assert not NIGHT_SHIFT.is_open(at("2026-03-10", "06:00"))


def test_fridays_night_shift_reaches_into_saturday_morning_but_saturday_has_none() -> None:
    assert NIGHT_SHIFT.is_open(at("2026-03-14", "03:00"))  # Saturday, from Friday 22:00
    assert not NIGHT_SHIFT.is_open(at("2026-03-14", "23:00"))
    assert not NIGHT_SHIFT.is_open(at("2026-03-16", "03:00"))  # Monday: Sunday had no shift


def test_opening_hours_are_read_in_the_stations_time_zone() -> None:
    day = Hours(week={"tue": [Interval(opens="08:00", closes="20:00")]})
    # 2026-03-10 01:00 UTC is Tuesday 09:00 in Beijing; 12:30 UTC is 20:30 there.
    assert day.is_open(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    assert not day.is_open(datetime(2026, 3, 10, 12, 30, tzinfo=UTC))
    urumqi = Hours(timezone="Asia/Urumqi", week={"tue": [Interval(opens="08:00", closes="20:00")]})
    assert not urumqi.is_open(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))  # 07:00 in Urumqi


def test_closing_at_midnight_is_spelled_24_00_and_a_24_hour_station_is_always_open() -> None:
    late = Hours(week={"wed": [Interval(opens="08:00", closes="24:00")]})
    assert late.is_open(at("2026-03-11", "23:59"))
    assert not late.is_open(at("2026-03-12", "00:00"))
    assert Hours(always_open=True).is_open(at("2026-10-01", "03:00"))


def test_public_holidays_use_holiday_hours_and_ordinary_weekends_do_not() -> None:
    hours = Hours(
        week={d: [Interval(opens="08:00", closes="18:00")] for d in ("mon", "tue", "wed", "thu")},
        holidays=[Interval(opens="10:00", closes="14:00")],
    )
    # 2026-10-01 (Thursday) is National Day.
    assert is_public_holiday(date(2026, 10, 1))
    assert not hours.is_open(at("2026-10-01", "09:00"))
    assert hours.is_open(at("2026-10-01", "11:00"))
    assert not hours.is_open(at("2026-10-01", "15:00"))
    # The Thursday after the holiday week is an ordinary working day again.
    assert hours.is_open(at("2026-10-08", "09:00"))
    assert not is_public_holiday(date(2026, 3, 14)), "an ordinary Saturday is not a holiday"


def test_an_empty_holiday_list_closes_the_station_and_null_keeps_the_weekday() -> None:
    weekday = {"thu": [Interval(opens="08:00", closes="18:00")]}
    closed = Hours(week=weekday, holidays=[])
    unchanged = Hours(week=weekday)
    assert not closed.is_open(at("2026-10-01", "09:00"))
    assert unchanged.is_open(at("2026-10-01", "09:00"))


def test_the_night_before_a_holiday_still_reaches_into_the_holiday_morning() -> None:
    # 2026-09-30 (Wednesday) has a night shift; 2026-10-01 is a holiday with no hours.
    hours = Hours(week={"wed": [Interval(opens="22:00", closes="06:00")]}, holidays=[])
    assert hours.is_open(at("2026-10-01", "05:00"))
    assert not hours.is_open(at("2026-10-01", "07:00"))


def test_an_adjusted_working_saturday_can_use_working_day_hours() -> None:
    # 2026-10-10 is a Saturday worked to bridge the National Day week.
    weekdays = {d: [Interval(opens="08:00", closes="18:00")] for d in ("mon", "fri")}
    plain = Hours(week=weekdays)
    bridged = Hours(week=weekdays, makeup_workdays_as="mon")
    assert not plain.is_open(at("2026-10-10", "09:00"))
    assert bridged.is_open(at("2026-10-10", "09:00"))
    assert not bridged.is_open(at("2026-10-17", "09:00")), "an ordinary Saturday stays closed"


def test_a_year_the_holiday_calendar_does_not_cover_counts_no_holidays() -> None:
    assert not is_public_holiday(date(2200, 1, 1))


def test_travel_faster_than_a_truck_can_drive_is_impossible_in_either_order() -> None:
    from stations.domain import Location, Station

    now = datetime(2026, 3, 10, tzinfo=UTC)
    shanghai = Station(
        station_id="sh",
        name="上海",
        kind="rest_stop",
        operator_org="x",
        address="x",
        location=Location(lat=31.2304, lng=121.4737),
        hours=Hours(always_open=True),
        created_at=now,
        updated_at=now,
    )
    beilun = LastSeen(station_id="bl", lat=29.888, lng=121.845, at=now)
    rules = {"max_speed_kmh": 120.0, "grace_km": 3.0}
    assert impossible_travel(beilun, shanghai, now + timedelta(minutes=30), **rules)
    assert impossible_travel(beilun, shanghai, now - timedelta(minutes=30), **rules)
    assert not impossible_travel(beilun, shanghai, now + timedelta(hours=2), **rules)
    assert not impossible_travel(None, shanghai, now, **rules)
