"""Notify's pure rules: quiet hours, channels, templates, signing, breakers, targets, segments."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from common.clock import ManualClock
from notify.channels.breaker import CircuitBreakers
from notify.channels.signing import new_secret, sign, verify
from notify.channels.targets import TargetPolicy
from notify.domain import (
    Content,
    InvalidBroadcast,
    InvalidTemplate,
    Preferences,
    QuietHours,
    Segment,
    UnsafeTarget,
    broadcast_notification_id,
    check_broadcast,
    notification_id,
    paged_notification_id,
)
from notify.records import PagePlace
from notify.segments import cell_of, segment_filter
from notify.templates import DEFAULTS, NOTIFYING, render, validate

SHANGHAI = "Asia/Shanghai"


def at_local(hour: int, minute: int = 0) -> datetime:
    # 2026-03-10 in Shanghai (UTC+8) as a UTC instant.
    return datetime(2026, 3, 10, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_quiet_hours_across_midnight_hold_until_the_morning_end() -> None:
    quiet = QuietHours(start=time(22, 0), end=time(6, 0))
    ends = quiet.ends_after(at_local(23, 30), SHANGHAI)
    assert ends is not None and ends.astimezone(UTC) == at_local(6) + timedelta(days=1)
    early = quiet.ends_after(at_local(5, 59), SHANGHAI)
    assert early is not None and early.astimezone(UTC) == at_local(6)
    assert quiet.ends_after(at_local(6, 0), SHANGHAI) is None
    assert quiet.ends_after(at_local(12, 0), SHANGHAI) is None


def test_quiet_hours_within_a_day_and_empty_windows_are_refused() -> None:
    quiet = QuietHours(start=time(9, 0), end=time(17, 0))
    assert quiet.ends_after(at_local(8, 59), SHANGHAI) is None
    ends = quiet.ends_after(at_local(9, 0), SHANGHAI)
    assert ends is not None and ends.astimezone(UTC) == at_local(17)
    with pytest.raises(ValueError, match="same time"):
        QuietHours(start=time(9, 0), end=time(9, 0))


def test_urgent_categories_always_reach_the_inbox_and_sms_needs_a_number() -> None:
    prefs = Preferences(driver_id="d", channels={"road_closure": ["sms"], "points": ["sms"]})
    assert prefs.channels_for("road_closure") == ["inbox"]
    assert prefs.channels_for("points") == []
    with_phone = prefs.model_copy(update={"has_sms_phone": True})
    assert with_phone.channels_for("road_closure") == ["inbox", "sms"]
    assert with_phone.channels_for("policy") == ["inbox"]


def test_notification_ids_are_the_same_for_the_same_cause_driver_and_channel() -> None:
    one = notification_id("d1", "partner/x", "e1", "inbox")
    assert one == notification_id("d1", "partner/x", "e1", "inbox")
    assert one != notification_id("d1", "partner/x", "e1", "sms")
    assert one != notification_id("d2", "partner/x", "e1", "inbox")


def test_a_broadcasts_ids_are_fixed_by_driver_and_channel_whatever_the_page() -> None:
    one = broadcast_notification_id("brc_1", "drv_a", "inbox")
    assert one == PagePlace(3, 7, True).notification_id("brc_1", "drv_a", "inbox")
    assert one == PagePlace(9, 0, False).notification_id("brc_1", "drv_a", "inbox")
    assert one.startswith("ntf_")
    assert one != broadcast_notification_id("brc_1", "drv_a", "sms")
    assert one != broadcast_notification_id("brc_1", "drv_b", "inbox")
    assert one != broadcast_notification_id("brc_2", "drv_a", "inbox")
    # Pages list drivers in id order, so their inserts rise through the id index.
    drivers = sorted(f"drv_{n:05d}" for n in range(0, 3000, 7))
    ids = [broadcast_notification_id("brc_1", d, "inbox") for d in drivers]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_a_broadcast_made_before_driver_ids_keeps_its_page_place_ids() -> None:
    old = PagePlace(3, 7, True, ids_by_driver=False)
    assert old.notification_id("brc_1", "d1", "inbox") == paged_notification_id(
        "brc_1", 3, 7, "d1", "inbox"
    )
    assert paged_notification_id("brc_1", 3, 7, "d1", "inbox") != paged_notification_id(
        "brc_1", 3, 7, "d1", "sms"
    )
    page = [
        paged_notification_id("brc_1", n, i, f"d{n}{i}", "inbox")
        for n in range(3)
        for i in range(4)
    ]
    assert page == sorted(page) and len(set(page)) == len(page)


def test_every_built_in_template_uses_only_its_events_variables() -> None:
    assert set(DEFAULTS) == set(NOTIFYING)
    for event_type, languages in DEFAULTS.items():
        assert set(languages) == {"zh-CN", "en"}
        for content in languages.values():
            validate(event_type, content)


def test_a_template_naming_an_unknown_variable_is_refused() -> None:
    with pytest.raises(InvalidTemplate) as refused:
        validate("points.awarded.v1", Content(title="+$amount", body="余额 $balance, $phone"))
    assert refused.value.unknown == ["balance", "phone"]
    with pytest.raises(InvalidTemplate, match="malformed"):
        validate("points.awarded.v1", Content(title="t", body="${amount"))


def test_rendering_substitutes_known_variables_only() -> None:
    title, body = render(Content(title="+$amount", body="${amount}分 $other"), {"amount": "5"})
    assert (title, body) == ("+5", "5分 $other")


def test_a_signature_verifies_only_for_the_same_secret_timestamp_and_body() -> None:
    secret = new_secret()
    signature = sign(secret, "1700000000", b'{"a":1}')
    assert verify(secret, "1700000000", b'{"a":1}', signature)
    assert not verify(secret, "1700000001", b'{"a":1}', signature)
    assert not verify(secret, "1700000000", b'{"a":2}', signature)
    assert not verify(new_secret(), "1700000000", b'{"a":1}', signature)


def test_the_breaker_opens_after_repeated_failures_and_half_opens_after_the_pause() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    breakers = CircuitBreakers(clock, threshold=3, reset_seconds=30)
    for _ in range(2):
        breakers.failed("e")
    assert breakers.open_until("e") is None
    breakers.failed("e")
    assert breakers.open_until("e") == clock.now() + timedelta(seconds=30)
    assert breakers.open_until("other") is None
    clock.advance(timedelta(seconds=30))
    assert breakers.open_until("e") is None
    breakers.failed("e")  # the probe failed: open again at once
    assert breakers.open_until("e") is not None
    breakers.succeeded("e")
    assert breakers.open_until("e") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::ffff:127.0.0.1]/hook",
        # SIIT's IPv4-translated spellings of loopback and the metadata address.
        "http://[::ffff:0:7f00:1]/hook",
        "http://[::ffff:0:a9fe:a9fe]/hook",
        # Site-local (deprecated, routed on some networks), which older Pythons call global.
        "http://[fec0::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://93.184.215.14/hook",
        "http://user:pw@93.184.215.14/hook",
    ],
)
async def test_internal_and_odd_webhook_targets_are_refused_outside_development(url: str) -> None:
    policy = TargetPolicy(environment="test", require_https=False)
    with pytest.raises(UnsafeTarget):
        await policy.check(url)


async def test_a_public_address_passes_and_the_allow_list_admits_a_named_network() -> None:
    await TargetPolicy(environment="production", require_https=True).check(
        "https://93.184.215.14/hook"
    )
    await TargetPolicy(environment="production", require_https=True).check(
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook"
    )
    with pytest.raises(UnsafeTarget, match="scheme"):
        await TargetPolicy(environment="production", require_https=True).check(
            "http://93.184.215.14/hook"
        )
    allowed = TargetPolicy(
        environment="test", allowed_networks=["127.0.0.1/32"], require_https=False
    )
    await allowed.check("http://127.0.0.1:9/hook")
    with pytest.raises(UnsafeTarget):
        await allowed.check("http://127.0.0.2:9/hook")


def test_urgency_is_only_for_urgent_categories() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    content = {"zh-CN": Content(title="t", body="b")}
    assert check_broadcast("road_closure", "urgent", content, now, None)
    assert not check_broadcast("policy", "normal", content, now, None)
    with pytest.raises(InvalidBroadcast):
        check_broadcast("policy", "urgent", content, now, None)
    with pytest.raises(InvalidBroadcast):
        check_broadcast("policy", "normal", content, now, now)


def test_segments_become_filters_over_active_drivers() -> None:
    assert segment_filter(Segment(kind="everyone")) == {"active": True}
    assert segment_filter(Segment(kind="fleet", value="F1")) == {"active": True, "fleet": "F1"}
    assert segment_filter(Segment(kind="organisation", value="O")) == {
        "active": True,
        "organisations": "O",
    }
    near = segment_filter(Segment(kind="near", lat=29.9, lng=121.85, radius_km=5))
    assert cell_of(29.9, 121.85) in near["cell"]["$in"]
    assert cell_of(31.23, 121.47) not in near["cell"]["$in"]  # Shanghai is ~150 km away
    with pytest.raises(ValueError, match="needs"):
        Segment(kind="grid")
