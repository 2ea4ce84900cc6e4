"""Edge values at the HTTP boundary: what a request model accepts is what every GET can answer.

Each case here answered 500 before (a value stored that the response model refuses, a year
without a datetime, a string UTF-8 cannot carry) or was silently coerced (``0`` as ``false``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from common.testing import unique_name
from notify.app import create_app as notify_app
from notify.settings import NotifySettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from stations.app import create_app as stations_app
from stations.settings import StationsSettings
from tests.support import serve


def reward(**overrides: Any) -> dict[str, Any]:
    return {
        "reward_id": unique_name("rw-"),
        "name": "保温杯",
        "category": "daily goods",
        "cost": 100,
        "stock": 5,
        "channel": "online",
        **overrides,
    }


@pytest.mark.parametrize(
    "change",
    [{"channel": None}, {"name": None}, {"cost": None}, {"counters": None}, {"active": None}],
)
async def test_a_reward_change_to_null_is_refused_and_the_reward_stays_readable(
    change: dict[str, Any],
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
) -> None:
    async with serve(points_app(make_settings(PointsSettings))) as http:
        operator = token("operator")
        body = reward()
        assert (await http.post("/v1/rewards", json=body, headers=operator)).status_code == 201
        refused = await http.patch(
            f"/v1/rewards/{body['reward_id']}", json=change, headers=operator
        )
        one = await http.get(f"/v1/rewards/{body['reward_id']}", headers=operator)
        listed = await http.get("/v1/rewards?include_inactive=true", headers=operator)
        withdrawn = await http.delete(f"/v1/rewards/{body['reward_id']}", headers=operator)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert one.status_code == 200, one.text
    assert listed.status_code == 200, listed.text
    assert withdrawn.status_code == 204


async def test_the_edge_values_a_reward_request_allows_read_back_through_every_get(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    operator = token("operator")
    edges = [
        reward(name="x", category="y", cost=1, stock=0, description=None),
        reward(
            name="名" * 100,
            category="c" * 40,
            cost=1_000_000,
            stock=1_000_000,
            channel="counter",
            counters=["c"] * 50,
            description="line one\nline two\ttab" + "d" * 970,
        ),
    ]
    async with serve(points_app(make_settings(PointsSettings))) as http:
        for body in edges:
            created = await http.post("/v1/rewards", json=body, headers=operator)
            assert created.status_code == 201, created.text
            rid = body["reward_id"]
            changes = [{"description": None}, {"active": False}, {"active": True}, {"counters": []}]
            for change in changes:
                # The last one may be refused (online rewards name no counters): never a 500.
                answer = await http.patch(f"/v1/rewards/{rid}", json=change, headers=operator)
                assert answer.status_code in (200, 422), answer.text
            for path in (f"/v1/rewards/{rid}", "/v1/rewards?include_inactive=true"):
                read = await http.get(path, headers=operator)
                assert read.status_code == 200, read.text
            driver = await http.get(f"/v1/rewards/{rid}", headers=token("driver", driver_id="d-1"))
            assert driver.status_code == 200, driver.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/rewards", reward(cost=True)),
        ("/v1/rewards", reward(stock="5")),
        ("/v1/rewards", reward(name="a\x00b")),
        ("/v1/rewards", reward(category="two\nlines")),
    ],
)
async def test_a_reward_request_is_not_coerced(
    path: str,
    body: dict[str, Any],
    make_settings: Callable[..., PointsSettings],
    token: Callable[..., dict[str, str]],
) -> None:
    async with serve(points_app(make_settings(PointsSettings))) as http:
        answer = await http.post(path, json=body, headers=token("operator"))
    assert answer.status_code == 422, answer.text


async def test_zero_is_neither_false_nor_a_date_time(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    operator = token("operator")
    async with serve(points_app(make_settings(PointsSettings))) as http:
        body = reward()
        await http.post("/v1/rewards", json=body, headers=operator)
        as_false = await http.patch(
            f"/v1/rewards/{body['reward_id']}", json={"active": 0}, headers=operator
        )
        as_time = await http.put(
            "/v1/rules/r-edge",
            json={"name": "edge", "event_type": "service.used.v1", "points": 1, "valid_from": 0},
            headers=operator,
        )
        in_query = await http.get("/v1/rewards?include_inactive=1", headers=operator)
        still = await http.get(f"/v1/rewards/{body['reward_id']}", headers=operator)
    assert as_false.status_code == 422, as_false.text
    assert as_time.status_code == 422, as_time.text
    assert in_query.status_code == 422, in_query.text
    assert still.json()["active"] is True


async def test_a_lone_surrogate_is_refused_with_422_not_500(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    # A condition's value is free JSON: before, the surrogate reached the store's encoder.
    rule = (
        '{"name": "r", "event_type": "service.used.v1", "points": 1,'
        ' "conditions": [{"field": "service_code", "value": "\\ud800"}]}'
    )
    headers = {**token("operator"), "content-type": "application/json"}
    async with serve(points_app(make_settings(PointsSettings))) as http:
        answer = await http.put("/v1/rules/r-surrogate", content=rule, headers=headers)
        stored = await http.get("/v1/rules", headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "r-surrogate" not in stored.text


@pytest.mark.parametrize("quarter", ["0000Q1", "1999Q4"])
async def test_a_census_campaign_for_a_quarter_out_of_range_is_refused(
    quarter: str,
    make_settings: Callable[..., RegistrySettings],
    token: Callable[..., dict[str, str]],
) -> None:
    async with serve(registry_app(make_settings(RegistrySettings))) as http:
        answer = await http.post(
            "/v1/census/campaigns", json={"quarter": quarter, "grid_ids": []}, headers=token()
        )
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("by", ["0", "1700000000", "2026-13-01"])
async def test_a_pass_review_date_is_an_iso_date_not_a_number(
    by: str,
    make_settings: Callable[..., RegistrySettings],
    token: Callable[..., dict[str, str]],
) -> None:
    async with serve(registry_app(make_settings(RegistrySettings))) as http:
        refused = await http.get("/v1/passes/due", params={"by": by}, headers=token())
        accepted = await http.get("/v1/passes/due", params={"by": "2026-12-31"}, headers=token())
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("flag", ["unread", "archived"])
async def test_inbox_filters_are_true_or_false_not_numbers(
    flag: str,
    make_settings: Callable[..., NotifySettings],
    token: Callable[..., dict[str, str]],
) -> None:
    driver = unique_name("drv_")
    async with serve(notify_app(make_settings(NotifySettings))) as http:
        own = token("driver", driver_id=driver)
        refused = await http.get(f"/v1/drivers/{driver}/inbox", params={flag: "0"}, headers=own)
        accepted = await http.get(f"/v1/drivers/{driver}/inbox", params={flag: "true"}, headers=own)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert accepted.status_code == 200, accepted.text


async def test_values_the_store_cannot_hold_are_refused_with_422_not_500(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    """A time past the store's last year once in UTC, an integer past 64 bits, a body nested
    past what the checks walk, and NaN where a signed statement is checked."""
    operator = token("operator")
    rule = {"name": "edge", "event_type": "service.used.v1", "points": 1}
    async with serve(points_app(make_settings(PointsSettings))) as http:
        answers = [
            await http.put(
                "/v1/rules/r-late",
                json=rule | {"valid_from": "9999-12-31T20:00:00-11:00"},
                headers=operator,
            ),
            await http.put(
                "/v1/rules/r-huge",
                content=json.dumps(rule | {"cap_per_day": 10**30}),
                headers={**operator, "content-type": "application/json"},
            ),
            await deepest_parsed(http, operator),
        ]
        key = (await http.get("/v1/statements/public-key")).json()["key_id"]
        nan = await http.post(
            "/v1/statements/verify",
            content='{"statement": {"key_id": '
            + json.dumps(key)
            + ', "x": NaN}, "signature": "x"}',
            headers={"content-type": "application/json"},
        )
        rules = await http.get("/v1/rules", headers=operator)
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert nan.status_code == 200 and nan.json()["valid"] is False, nan.text
    assert "r-late" not in rules.text and "r-huge" not in rules.text


async def deepest_parsed(http: Any, operator: dict[str, str]) -> Any:
    """The answer to the most deeply nested body the JSON parser still takes (deeper ones are
    its 400): before, the checks' own walk ran out of stack just below that depth (a 500)."""
    body = json.dumps(reward())[:-1]
    headers = {**operator, "content-type": "application/json"}
    for levels in range(1200, 0, -1):
        nested = f'{body}, "deep": {"[" * levels}{"]" * levels}}}'
        answer = await http.post("/v1/rewards", content=nested, headers=headers)
        if answer.status_code != 400:
            return answer
    raise AssertionError("no depth parsed")


async def test_a_catalogue_version_past_any_kept_is_a_422_not_a_500(
    make_settings: Callable[..., StationsSettings], token: Callable[..., dict[str, str]]
) -> None:
    async with serve(stations_app(make_settings(StationsSettings))) as http:
        answer = await http.get("/v1/lifecycle/versions/99999999999999999999", headers=token())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
