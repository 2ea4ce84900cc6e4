"""The cases use cases in-process over a test database whose store commands are captured on
request (tests/store_commands.py), for the tests of what cases asks the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from cases.app import INDEXES, build_calendar
from cases.intake import Intake
from cases.service import Cases, build_cases
from cases.settings import CasesSettings
from common.auth import Principal
from common.mongo import ensure_indexes
from tests.store_commands import Commands

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday morning in the district
STATION = Principal(sub="station-7", role="station", station_id="S7")
DISPATCHER = Principal(sub="op-dispatch", role="operator", scope="cases:dispatch")
SUPERVISOR = Principal(sub="op-sup", role="operator", scope="cases:supervise")


def complaint(driver_id: str, category: str = "parking_rest") -> Intake:
    return Intake(
        kind="complaint",
        category=category,
        channel="station",
        description="停车区夜间无照明",
        driver_id=driver_id,
    )


@dataclass
class Store:
    """The cases use cases over a test database whose commands are captured on request."""

    db: Any
    commands: Commands
    now: list[datetime]
    cases: Cases


@asynccontextmanager
async def cases_store(settings: CasesSettings) -> AsyncIterator[Store]:
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, tz_aware=True, event_listeners=[commands]
    )
    try:
        db = client[settings.mongo_db]
        await ensure_indexes(db, INDEXES)
        now = [NOW]
        cases = build_cases(db, build_calendar(settings), settings, clock=lambda: now[0])
        yield Store(db, commands, now, cases)
    finally:
        await client.close()
