from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.auth import decode_token, issue_token
from common.problems import Problem
from common.schemas import RequestModel
from common.settings import ServiceSettings
from common.tokens import TokenVerifier
from tests.support import PRODUCTION_KEYS

PRODUCTION = PRODUCTION_KEYS


def test_production_refuses_the_development_keys_and_issuer() -> None:
    with pytest.raises(ValidationError, match="DRIVERHOME_JWT_ISSUER"):
        ServiceSettings(environment="production", cursor_key=PRODUCTION["cursor_key"])


def test_production_refuses_fault_injection() -> None:
    with pytest.raises(ValidationError, match="fault injection"):
        ServiceSettings(**PRODUCTION, faults={"x": "raise"})


def test_production_settings_with_their_own_keys_start() -> None:
    settings = ServiceSettings(**PRODUCTION, service_name="points")
    assert settings.token_audience == "driverhome-points"
    assert settings.token_issuer == PRODUCTION_KEYS["jwt_issuer"]


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIVERHOME_TOPIC_PREFIX", "ci.")
    monkeypatch.setenv("DRIVERHOME_TOPIC_PARTITIONS", "6")
    settings = ServiceSettings()
    assert settings.topic("registry.events") == "ci.registry.events"
    assert settings.topic_partitions == 6


def test_the_partner_pattern_matches_partner_topics_but_not_their_dead_letters() -> None:
    import re

    pattern = re.compile(ServiceSettings(topic_prefix="ci.").partner_topic_pattern)
    assert pattern.match("ci.partner.port-booking.events")
    assert not pattern.match("ci.partner.port-booking.events.dlq")
    assert not pattern.match("partner.port-booking.events")
    assert not pattern.match("ci.registry.events")


async def test_a_token_round_trips_with_its_claims() -> None:
    settings = ServiceSettings(service_name="stations")
    token = issue_token(settings, role="station", station_id="st-1", scope="a b")
    principal = await decode_token(TokenVerifier(settings), token)
    assert principal.role == "station"
    assert principal.station_id == "st-1"
    assert principal.has_scope("b")


async def test_an_expired_or_foreign_token_is_refused(tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="registry")
    expired = issue_token(settings, role="operator", ttl=timedelta(seconds=-60))
    with pytest.raises(Problem) as caught:
        await decode_token(TokenVerifier(settings), expired)
    assert caught.value.status == 401
    # Another development issuer's key pair: same issuer name, a key this service never saw.
    foreign = issue_token(
        ServiceSettings(dev_keys_dir=str(tmp_path / "elsewhere")), role="operator"
    )
    with pytest.raises(Problem):
        await decode_token(TokenVerifier(settings), foreign)


class Body(RequestModel):
    name: str


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "x", "extra": 1},
        {"name": {"$gt": ""}},
        {"name": "$where"},
        {"$set": {"name": "x"}},
    ],
)
def test_request_bodies_refuse_unknown_fields_and_operators(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Body.model_validate(payload)


def test_dedupe_records_must_be_kept_longer_than_the_topics_keep_events() -> None:
    assert ServiceSettings().dedupe_retention_days * 24 > ServiceSettings().topic_retention_hours
    with pytest.raises(ValidationError, match="dedupe_retention_days must exceed"):
        ServiceSettings(topic_retention_hours=24 * 30, dedupe_retention_days=30)
    ServiceSettings(topic_retention_hours=24 * 30, dedupe_retention_days=31)
