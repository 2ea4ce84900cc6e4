from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.events import (
    DOMAIN_EVENTS,
    PARTNER_EVENTS,
    InvalidEvent,
    new_event,
    parse_data,
    parse_envelope,
)
from common.events.export import render
from common.events.partner import PortAppointmentKept, VolunteerLogged
from common.events.registry import DriverRegistered
from common.testing import synthetic_national_id

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"

HANDBOOK_DOMAIN_TYPES = {
    "driver.registered.v1",
    "driver.updated.v1",
    "driver.verified.v1",
    "driver.deactivated.v1",
    "service.used.v1",
    "activity.attended.v1",
    "points.awarded.v1",
    "points.redeemed.v1",
    "points.reversed.v1",
    "points.expired.v1",
    "points.grade_changed.v1",
    "notification.delivered.v1",
    "notification.failed.v1",
}
HANDBOOK_PARTNER_TYPES = {
    "driver.registered.v1",
    "service.used.v1",
    "volunteer.logged.v1",
    "safety.milestone.v1",
    "training.completed.v1",
    "port.appointment.kept.v1",
}


def test_the_catalogue_has_every_initial_type_of_the_handbook() -> None:
    domain = {t for models in DOMAIN_EVENTS.values() for t in models}
    assert domain >= HANDBOOK_DOMAIN_TYPES
    # Later issues add partner types (issue 17: driving.session.v1); the handbook's stay.
    assert set(PARTNER_EVENTS) >= HANDBOOK_PARTNER_TYPES
    assert "driving.session.v1" in PARTNER_EVENTS


def test_every_schema_matches_its_checked_in_snapshot() -> None:
    rendered = render()
    on_disk = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert set(rendered) == set(on_disk), "run `make schemas` and review the diff"
    changed = [name for name in rendered if rendered[name] != on_disk[name]]
    assert not changed, f"event schemas changed: {changed}; a breaking change needs a new .vN type"


def test_no_event_schema_has_a_field_for_a_national_id_or_phone_number() -> None:
    for name, content in render().items():
        properties = json.loads(content).get("properties", {})
        forbidden = {"national_id", "phone", "id_number", "mobile"} & set(properties)
        assert not forbidden, f"{name} carries {forbidden}"


def test_an_envelope_round_trips_and_keys_on_source_and_id() -> None:
    data = DriverRegistered(driver_id="drv_1", channel="self", registered_at=datetime.now(UTC))
    event = new_event(data, source="driverhome/registry", subject="drv_1")
    parsed = parse_envelope(event.to_bytes())
    assert parsed.key == ("driverhome/registry", event.id)
    assert parse_data(parsed, DriverRegistered) == data


def test_consumers_ignore_unknown_fields_in_data() -> None:
    event = new_event(
        DriverRegistered(driver_id="drv_1", channel="self", registered_at=datetime.now(UTC)),
        source="s",
        subject="drv_1",
    )
    grown = event.model_copy(update={"data": {**event.data, "added_in_a_later_minor": 1}})
    assert parse_data(grown, DriverRegistered).driver_id == "drv_1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "malformed_envelope"),
        (
            b'{"specversion":"1.0","id":"1","source":"s","type":"x.v1","subject":"d"}',
            "malformed_envelope",
        ),
        (
            b'{"specversion":"0.3","id":"1","source":"s","type":"x.v1","subject":"d",'
            b'"time":"2026-01-01T00:00:00Z","data":{}}',
            "malformed_envelope",
        ),
    ],
)
def test_a_malformed_envelope_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope(raw)
    assert caught.value.reason == reason


def test_data_whose_driver_differs_from_the_subject_is_refused() -> None:
    event = new_event(
        DriverRegistered(driver_id="drv_1", channel="self", registered_at=datetime.now(UTC)),
        source="s",
        subject="drv_2",
    )
    with pytest.raises(InvalidEvent) as caught:
        parse_data(event, DriverRegistered)
    assert caught.value.reason == "subject_mismatch"


def test_validation_errors_never_echo_the_input_value() -> None:
    event = new_event(
        DriverRegistered(driver_id="drv_1", channel="self", registered_at=datetime.now(UTC)),
        source="s",
        subject="drv_1",
    )
    number = synthetic_national_id()
    bad = event.model_copy(update={"data": {**event.data, "channel": number}})
    with pytest.raises(InvalidEvent) as caught:
        parse_data(bad, DriverRegistered)
    assert number not in str(caught.value)


HANDBOOK_EXAMPLE = (
    b'{"specversion": "1.0", "id": "6f1c", "source": "partner/port-booking",'
    b' "type": "port.appointment.kept.v1", "subject": "drv_1",'
    b' "time": "2026-11-23T08:15:00Z", "datacontenttype": "application/json",'
    b' "data": {"appointment_id": "A-889", "terminal": "BL2", "on_time": true}}'
)


def test_partner_data_that_leaves_out_the_envelope_repeats_takes_them_from_the_envelope() -> None:
    event = parse_envelope(HANDBOOK_EXAMPLE)
    data = parse_data(event, PortAppointmentKept)
    assert isinstance(data, PortAppointmentKept)
    assert data.driver_id == "drv_1"
    assert data.kept_at == datetime(2026, 11, 23, 8, 15, tzinfo=UTC)


def test_a_data_time_that_repeats_the_envelope_may_use_another_offset() -> None:
    event = parse_envelope(HANDBOOK_EXAMPLE)
    same = event.model_copy(update={"data": {**event.data, "kept_at": "2026-11-23T16:15:00+08:00"}})
    data = parse_data(same, PortAppointmentKept)
    assert isinstance(data, PortAppointmentKept)
    assert data.kept_at == event.time


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("driver_id", "drv_2", "subject_mismatch"),
        ("kept_at", "2026-11-23T08:12:40+08:00", "time_mismatch"),
    ],
)
def test_partner_data_that_contradicts_its_envelope_is_refused(
    field: str, value: str, reason: str
) -> None:
    event = parse_envelope(HANDBOOK_EXAMPLE)
    contradicting = event.model_copy(update={"data": {**event.data, field: value}})
    with pytest.raises(InvalidEvent) as caught:
        parse_data(contradicting, PortAppointmentKept)
    assert caught.value.reason == reason


def test_every_partner_type_defaults_its_driver_and_time_from_the_envelope() -> None:
    for event_type, model in PARTNER_EVENTS.items():
        if event_type == "driver.registered.v1":
            continue  # no driver id yet, and no time of its own
        assert sorted(model.envelope_defaults().values()) == ["subject", "time"], event_type


def test_new_event_takes_its_time_from_data_that_repeats_it() -> None:
    at = datetime(2026, 5, 1, 9, tzinfo=UTC)
    event = new_event(
        VolunteerLogged(driver_id="drv_1", activity="a", hours=1, logged_at=at),
        source="partner/volunteer-team",
        subject="drv_1",
    )
    assert event.time == at
    data = parse_data(event, VolunteerLogged)
    assert isinstance(data, VolunteerLogged)
    assert data.logged_at == at
