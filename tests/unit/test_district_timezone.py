"""The district time zone is one setting; the names notify and partners documented still set it."""

from __future__ import annotations

import pytest

from common.settings import ServiceSettings, settings_problems
from notify.settings import NotifySettings
from partners.settings import PartnersSettings
from points.settings import PointsSettings


def test_every_service_counts_in_the_district_zone_by_default() -> None:
    for settings in (ServiceSettings(), NotifySettings(), PartnersSettings(), PointsSettings()):
        assert settings.district_timezone == "Asia/Shanghai"


def test_one_variable_sets_it_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIVERHOME_DISTRICT_TIMEZONE", "Asia/Urumqi")
    for settings in (NotifySettings(), PartnersSettings(), PointsSettings()):
        assert settings.district_timezone == "Asia/Urumqi"


def test_the_earlier_documented_names_still_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIVERHOME_TIMEZONE", "Asia/Urumqi")
    monkeypatch.setenv("DRIVERHOME_QUOTA_TIMEZONE", "Asia/Harbin")
    assert NotifySettings().district_timezone == "Asia/Urumqi"
    assert PartnersSettings().district_timezone == "Asia/Harbin"
    assert NotifySettings(district_timezone="UTC").district_timezone == "UTC"


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        PartnersSettings(district_timezone="Mars/Olympus")


def test_a_bad_zone_set_by_an_earlier_name_is_reported_under_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRIVERHOME_QUOTA_TIMEZONE", "Mars/Olympus")
    [problem] = settings_problems(PartnersSettings)
    assert problem.startswith("DRIVERHOME_DISTRICT_TIMEZONE: ") and "Mars/Olympus" in problem
