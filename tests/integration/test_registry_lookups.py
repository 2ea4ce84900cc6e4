"""Issue 19: the registry's hot lookups are found by a key the store can find without scanning,
and the ``lookups`` documents follow the driver through updates, deactivation, a crash and
erasure.

The local stand-in (mongo-java-server) has no ``explain`` (it answers "no such command"), so
the plan is proven on what the code asks for, captured with PyMongo's command monitoring: every
filter sent to the registry's collections during a registration, the five hot searches, an update,
a deactivation (with its plates) and an erasure names exactly the fields of one unique index
(``_id`` or a compound unique index), each by equality or ``$in`` on a single field. That is
the one shape the stand-in serves from an index (``AbstractUniqueIndex.canHandle``: the query's
fields equal the index's, values plain or ``$in``) and, on real MongoDB, an equality or ``$in``
on a unique index's full key - an ``IDHACK`` or ``IXSCAN`` plan, never a ``COLLSCAN``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from common.events import new_event
from common.events.registry import DriverUpdated
from common.outbox import outbox_entry
from common.testing import id_check_digit, wait_until
from registry.app import create_app
from registry.settings import RegistrySettings
from registry.store.drivers import DriverStore
from registry.store.lookups import KEYS_FIELD, LOOKUPS, keys_of
from tests.store_commands import Commands, keyed, unique_indexes
from tests.support import approved, serve

Headers = Callable[..., dict[str, str]]
JUDGED = {"drivers", "lookups", "vehicles", "fleets", "grids"}


def person(serial: int, **overrides: Any) -> dict[str, Any]:
    body = f"3302061985{1 + serial % 12:02d}{1 + serial % 28:02d}{serial % 1000:03d}"
    return {
        "name": f"周{'建海'[serial % 2]}国",
        "phone": f"137{serial:08d}",
        "national_id": body + id_check_digit(body),
        "plate": f"浙B7{serial:04d}",
        **overrides,
    }


@asynccontextmanager
async def monitored_registry(
    settings: RegistrySettings,
) -> AsyncIterator[tuple[httpx.AsyncClient, Commands, Any]]:
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, tz_aware=True, event_listeners=[commands]
    )
    try:
        db = client[settings.mongo_db]
        async with serve(create_app(settings, store=db)) as http:
            yield http, commands, db
    finally:
        await client.close()


async def test_registration_and_the_hot_searches_ask_only_for_unique_keys(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    # The relay's sweep (a scan for pending outboxes) and the approvals' job run on their own
    # clock, not per request: the sweep is held off, and only the registry's collections of
    # drivers, their lookups, vehicles and units are judged.
    settings = make_settings(RegistrySettings, outbox_sweep_seconds=3600)
    async with monitored_registry(settings) as (http, commands, db):
        unit = {"name": "新碶第9网格", "community": "集卡社区"}
        grid = await http.post("/v1/grids", json=unit, headers=token())
        grid_id = grid.json()["grid_id"]
        ids = []
        for serial in (1, 2):
            commands.recording = serial == 2  # the second: lookups and fleet exist already
            answer = await http.post(
                "/v1/drivers", json=person(serial, fleet="蓝鲸运输"), headers=token()
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["driver_id"])
            commands.recording = False
            moved = await http.patch(
                f"/v1/drivers/{ids[-1]}", json={"grid_id": grid_id}, headers=token()
            )
            assert moved.status_code == 200, moved.text
        fleet_id = answer.json()["fleet_id"]
        searches = [
            ("POST", "/v1/drivers/search", {"phone": person(2)["phone"]}),
            ("GET", "/v1/drivers", {"plate": person(2)["plate"]}),
            ("GET", "/v1/drivers", {"name_prefix": "周建"}),
            ("GET", "/v1/drivers", {"fleet_id": fleet_id}),
            ("GET", "/v1/drivers", {"grid_id": grid_id, "status": "active"}),
        ]
        commands.recording = True
        found = []
        for method, path, params in searches:
            if method == "GET":
                answer = await http.get(path, params=params, headers=token())
            else:
                answer = await http.post(path, json=params, headers=token())
            found.append(sorted(item["driver_id"] for item in answer.json()["items"]))
        # The hot writes on a driver: an update, a deactivation (and its plates), an erasure.
        changed = await http.patch(
            f"/v1/drivers/{ids[1]}", json={"name": "周海平"}, headers=token()
        )
        deactivated = await http.post(
            f"/v1/drivers/{ids[1]}/deactivation", json={"reason": "retired"}, headers=token()
        )
        asked = await http.post(
            f"/v1/drivers/{ids[0]}/erasure", json={"reason": "on_request"}, headers=token()
        )
        await approved(http, asked, token())
        commands.recording = False
        collections = sorted({collection for _, collection, _ in commands.seen})
        unique = await unique_indexes(db, collections)

    assert found == [[ids[1]], [ids[1]], [ids[1]], sorted(ids), sorted(ids)]
    assert (changed.status_code, deactivated.status_code) == (200, 200), deactivated.text
    assert deactivated.json()["status"] == "deactivated"
    writes = {(name, collection) for name, collection, _ in commands.seen}
    assert {("update", "drivers"), ("update", "vehicles"), ("delete", "vehicles")} <= writes
    touched = {collection for _, collection, _ in commands.seen}
    assert {"drivers", "lookups", "vehicles"} <= touched, touched
    scans = [
        (name, collection, query)
        for name, collection, query in commands.seen
        if collection in JUDGED and not keyed(query, unique[collection])
    ]
    assert scans == []


async def filed_under(db: Any, driver_id: str) -> set[str]:
    return {doc["_id"] async for doc in db[LOOKUPS].find({"ids": driver_id}, {"_id": 1})}


async def test_lookups_follow_updates_deactivation_a_crash_and_erasure(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    settings = make_settings(RegistrySettings)
    async with monitored_registry(settings) as (http, _, db):
        body = person(3, fleet="红蚂蚁运输")
        created = await http.post("/v1/drivers", json=body, headers=token())
        driver_id = created.json()["driver_id"]

        async def in_step() -> set[str]:
            doc = await db["drivers"].find_one({"_id": driver_id})
            filed = await filed_under(db, driver_id)
            assert filed == set(keys_of(doc)) == set(doc[KEYS_FIELD]), (filed, doc[KEYS_FIELD])
            return filed

        first = await in_step()
        assert {"name:周", "name:周海", "name:周海国"} <= first
        changed = await http.patch(
            f"/v1/drivers/{driver_id}",
            json={"name": "吴志强", "phone": "13712340003"},
            headers=token(),
        )
        assert changed.status_code == 200, changed.text
        second = await in_step()
        assert "name:吴志强" in second and not any(k.startswith("name:周") for k in second)
        old_phone = next(k for k in first if k.startswith("phone:"))
        assert old_phone not in second
        # The old documents held only this driver: deleted, not left empty.
        assert await db[LOOKUPS].count_documents({"_id": {"$in": [old_phone, "name:周海国"]}}) == 0

        deactivated = await http.post(
            f"/v1/drivers/{driver_id}/deactivation", json={"reason": "retired"}, headers=token()
        )
        assert deactivated.status_code == 200, deactivated.text
        await in_step()

        # A crash after a change was stored with its event but before the driver was refiled:
        # the outbox sweeper refiles the driver before it republishes the event.
        event = new_event(
            DriverUpdated(
                driver_id=driver_id, changed_fields=["name"], updated_at=datetime.now(UTC)
            ),
            source="driverhome/registry",
            subject=driver_id,
        )
        await DriverStore(db).update(
            driver_id,
            set_={"name": "郑海平"},
            outbox=[outbox_entry(settings.topic("registry.events"), event)],
        )

        async def refiled() -> bool:
            return "name:郑海平" in await filed_under(db, driver_id)

        await wait_until(refiled, timeout=20)
        await in_step()
        hit = await http.get("/v1/drivers", params={"name_prefix": "郑海"}, headers=token())
        assert [d["driver_id"] for d in hit.json()["items"]] == [driver_id]

        asked = await http.post(
            f"/v1/drivers/{driver_id}/erasure", json={"reason": "on_request"}, headers=token()
        )
        await approved(http, asked, token())
        gone = await filed_under(db, driver_id)
        plates = await db[LOOKUPS].count_documents({"_id": f"plates:{driver_id}"})
        stored = await db["drivers"].find_one({"_id": driver_id})
    assert (gone, plates, stored.get(KEYS_FIELD) or []) == (set(), 0, [])


async def test_a_registration_refused_for_a_taken_plate_leaves_nothing_filed(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    """The new driver's keys and plate are filed in one write before the plate is claimed; a
    plate another driver holds refuses the registration, and what was filed for it is taken
    back: every id ``lookups`` lists for a person is a stored driver."""
    settings = make_settings(RegistrySettings)
    async with monitored_registry(settings) as (http, _, db):
        first = await http.post("/v1/drivers", json=person(901), headers=token("operator"))
        taken = await http.post(
            "/v1/drivers",
            json=person(902, plate=person(901)["plate"]),
            headers=token("operator"),
        )
        listed = {
            driver_id
            async for doc in db[LOOKUPS].find({"_id": {"$not": {"$regex": "^plates:"}}})
            for driver_id in doc.get("ids", [])
        }
        stored = {doc["_id"] async for doc in db["drivers"].find({}, {"_id": 1})}
    assert first.status_code == 201, first.text
    assert taken.status_code == 409, taken.text
    assert listed == stored == {first.json()["driver_id"]}
