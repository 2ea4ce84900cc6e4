"""The consents each service follows take the newest answer: a consent given before a withdrawal,
dead-lettered and replayed after it, does not undo the withdrawal (points' earning, notify's
marketing and location, stations' visit history). Real store; the followers alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from common.testing import unique_name
from notify.consents import NotifyConsents
from notify.store.drivers import DRIVERS as NOTIFY_DRIVERS
from points.consents import EarningConsent
from points.store.accounts import ACCOUNTS
from stations.consents import LocationConsent
from stations.store.drivers import DRIVERS as STATIONS_DRIVERS

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
Follow = Callable[[str, dict[str, bool], datetime], Awaitable[None]]


def _points(db: Any) -> tuple[str, Follow, Callable[[dict[str, Any]], bool]]:
    return ACCOUNTS, EarningConsent(db).follow, lambda doc: not doc.get("earning_paused")


def _notify(db: Any) -> tuple[str, Follow, Callable[[dict[str, Any]], bool]]:
    return NOTIFY_DRIVERS, NotifyConsents(db).follow, lambda doc: doc["consents"][PURPOSE[1]]


def _stations(db: Any) -> tuple[str, Follow, Callable[[dict[str, Any]], bool]]:
    return STATIONS_DRIVERS, LocationConsent(db).follow, lambda doc: doc["consents"]["location"]


PURPOSE = {0: "points", 1: "notifications", 2: "location"}


@pytest.mark.parametrize(("service", "purpose"), [(_points, 0), (_notify, 1), (_stations, 2)])
async def test_a_replayed_older_answer_does_not_undo_a_newer_one(
    mongo: AsyncMongoClient[dict[str, Any]], service: Any, purpose: int
) -> None:
    db = mongo[unique_name("consent_order_")]
    try:
        collection, follow, consenting = service(db)
        driver = "drv_consent_order"
        await db[collection].insert_one({"_id": driver, "active": True, "status": "active"})
        answer = PURPOSE[purpose]
        await follow(driver, {answer: True}, T0)
        await follow(driver, {answer: False}, T0 + timedelta(minutes=5))
        await follow(driver, {answer: True}, T0)  # the first answer, replayed from its DLQ
        after_replay = await db[collection].find_one({"_id": driver})
        await follow(driver, {answer: True}, T0 + timedelta(minutes=9))  # given again, later
        given_again = await db[collection].find_one({"_id": driver})
    finally:
        await mongo.drop_database(db.name)
    assert after_replay is not None and not consenting(after_replay)
    assert given_again is not None and consenting(given_again)


async def test_notify_keeps_each_purpose_in_its_own_order(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    """A newer answer to one purpose does not make an older answer to another one stale."""
    db = mongo[unique_name("consent_order_")]
    try:
        follow = NotifyConsents(db).follow
        driver = "drv_consent_order"
        await db[NOTIFY_DRIVERS].insert_one({"_id": driver, "cell": "wtw3"})
        await follow(driver, {"notifications": True}, T0 + timedelta(minutes=5))
        await follow(driver, {"location": False}, T0)  # older, about another purpose
        doc = await db[NOTIFY_DRIVERS].find_one({"_id": driver})
    finally:
        await mongo.drop_database(db.name)
    assert doc is not None
    assert doc["consents"] == {"notifications": True, "location": False}
    assert "cell" not in doc
