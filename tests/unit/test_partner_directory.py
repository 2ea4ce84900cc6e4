"""The partner directory: configured partners until announced, then what partners.events says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from common.events import InvalidEvent, new_event
from common.events.partners import PartnerReinstated, PartnerState
from common.partner_directory import PartnerDirectory, PartnerDirectoryFeed
from common.settings import ServiceSettings


def state(
    version: int, status: str = "active", types: tuple[str, ...] = ("volunteer.logged.v1",)
) -> PartnerState:
    return PartnerState.model_validate(
        {
            "partner_id": "volunteer-team",
            "name": "Volunteer team",
            "allowed_types": list(types),
            "status": status,
            "version": version,
            "changed_at": datetime.now(UTC),
        }
    )


def reason(directory: PartnerDirectory, partner_id: str | None, event_type: str) -> str | None:
    try:
        directory.check(partner_id, event_type)
    except InvalidEvent as exc:
        return exc.reason
    return None


def test_the_configured_catalogue_holds_until_the_first_announcement() -> None:
    directory = PartnerDirectory({"volunteer-team": ["volunteer.logged.v1"]})
    assert reason(directory, "volunteer-team", "volunteer.logged.v1") is None
    assert reason(directory, "volunteer-team", "service.used.v1") == "type_not_allowed"
    assert reason(directory, "nobody", "volunteer.logged.v1") == "unknown_partner"
    assert reason(directory, None, "volunteer.logged.v1") == "unknown_partner"


def test_a_suspension_is_refused_from_its_event_on_and_a_reinstatement_lifts_it() -> None:
    directory = PartnerDirectory({"volunteer-team": ["volunteer.logged.v1"]})
    assert directory.apply(state(2, "suspended"))
    assert reason(directory, "volunteer-team", "volunteer.logged.v1") == "partner_suspended"
    assert directory.apply(state(3, "active", ("volunteer.logged.v1", "training.completed.v1")))
    assert reason(directory, "volunteer-team", "training.completed.v1") is None


@pytest.mark.parametrize("late_version", [1, 2])
def test_an_older_or_repeated_state_changes_nothing(late_version: int) -> None:
    directory = PartnerDirectory({})
    assert directory.apply(state(2, "suspended"))
    assert not directory.apply(state(late_version, "active"))
    assert reason(directory, "volunteer-team", "volunteer.logged.v1") == "partner_suspended"


def _record(event: Any) -> Any:
    return ConsumerRecord(
        topic="partners.events",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=b"volunteer-team",
        value=event.to_bytes(),
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=1,
        headers=(),
    )


@pytest.mark.parametrize(
    ("source", "applied"),
    [
        ("driverhome/partners", True),
        ("partner/volunteer-team", False),
        ("driverhome/points", False),
    ],
)
def test_the_feed_applies_only_what_the_partners_service_wrote(source: str, applied: bool) -> None:
    """partners.events is the partners service's: a record anyone else managed to write there
    (a misconfigured grant) lifts no suspension."""
    directory = PartnerDirectory({"volunteer-team": ["volunteer.logged.v1"]})
    assert directory.apply(state(2, "suspended"))
    lifted = PartnerReinstated.model_validate(state(3, "active").model_dump())
    event = new_event(lifted, source=source, subject="volunteer-team")
    feed = PartnerDirectoryFeed(ServiceSettings(environment="test"), directory)
    feed._apply_all([_record(event)])
    still = reason(directory, "volunteer-team", "volunteer.logged.v1")
    assert still == (None if applied else "partner_suspended")
