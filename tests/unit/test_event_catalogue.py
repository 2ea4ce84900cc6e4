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
    assert set(PARTNER_EVENTS) == HANDBOOK_PARTNER_TYPES


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
