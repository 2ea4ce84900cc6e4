"""Driver lifecycle on the real store and broker: events without PII, and erasure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.events import CloudEvent, parse_envelope
from common.pii import PiiProtector
from common.testing import read_topic, wait_until
from registry.app import create_app
from registry.settings import RegistrySettings
from registry.store.drivers import ERASING, DriverStore
from tests.integration.test_registry_rules import driver, national_id
from tests.support import approved, serve

Headers = Callable[..., dict[str, str]]


def texts(value: Any) -> list[str]:
    """Every string in a stored document, keys included; bytes decoded as UTF-8."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (str(k), *texts(v))]
    if isinstance(value, list | tuple):
        return [t for item in value for t in texts(item)]
    if isinstance(value, bytes):
        return [value.decode("utf-8", errors="replace")]
    return [str(value)]


def distinct(records: list[Any]) -> list[CloudEvent]:
    """The events in order, each once: delivery is at least once, consumers dedupe by id."""
    seen: set[tuple[str, str]] = set()
    out = []
    for record in records:
        event = parse_envelope(record.value)
        if event.key not in seen:
            seen.add(event.key)
            out.append(event)
    return out


async def database_text(mongo: Any, db_name: str) -> dict[str, str]:
    db = mongo[db_name]
    out = {}
    for name in await db.list_collection_names():
        out[name] = "\n".join([t async for doc in db[name].find() for t in texts(doc)])
    return out


async def test_update_verify_and_deactivate_are_announced_with_field_names_and_no_pii(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    settings = make_settings(RegistrySettings)
    body = driver(40, name="周海平")
    async with serve(create_app(settings)) as http:
        driver_id = (await http.post("/v1/drivers", json=body, headers=token())).json()["driver_id"]
        await http.patch(
            f"/v1/drivers/{driver_id}",
            json={"name": "周海萍", "phone": "13700000040", "home_province": "安徽"},
            headers=token(),
        )
        campaign = await http.post("/v1/census/campaigns", json={}, headers=token())
        await http.post(
            f"/v1/drivers/{driver_id}/verifications",
            json={
                "campaign_id": campaign.json()["campaign_id"],
                "changes": {"languages": ["zh", "wuu"]},
            },
            headers=token(sub="grid-worker-12"),
        )
        await http.post(
            f"/v1/drivers/{driver_id}/deactivation",
            json={"reason": "left_district"},
            headers=token(),
        )
        await http.post(f"/v1/drivers/{driver_id}/reactivation", headers=token())
        records = await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events"), min_records=5
        )
    events = distinct(records)
    assert all(e.subject == driver_id for e in events)
    summary = [(e.type, e.data.get("changed_fields")) for e in events]
    assert summary == [
        ("driver.registered.v1", None),
        ("driver.updated.v1", ["name", "phone", "home_province"]),
        ("driver.verified.v1", ["languages"]),
        ("driver.deactivated.v1", None),
        ("driver.updated.v1", ["status"]),
    ]
    assert events[2].data["verified_by"] == "grid-worker-12"
    assert events[3].data["reason"] == "left_district" and events[3].data["erased"] is False
    pii = PiiProtector.from_settings(settings)
    secrets = [
        body["national_id"],
        body["phone"],
        "13700000040",
        "周海平",
        "周海萍",
        body["plate"],
        pii.hash("national_id", body["national_id"]),
        pii.hash("phone", body["phone"]),
    ]
    for record in records:
        payload = record.value.decode()
        assert not [s for s in secrets if s in payload], payload


async def test_erasure_leaves_no_personal_value_in_any_collection_of_the_registry_database(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any, mongo: Any
) -> None:
    settings = make_settings(RegistrySettings)
    body = driver(41, name="孙卫东", plate="浙B9E041", fleet="红蚂蚁运输")
    port = {**token("partner", partner_id="port-booking"), "Idempotency-Key": "k-41"}
    spouse, child = "钱秀英", "孙小雨"
    async with serve(create_app(settings)) as http:
        created = await http.post(
            "/v1/drivers", json={**body, "partner_driver_ref": "PB-77041"}, headers=port
        )
        driver_id = created.json()["driver_id"]
        grid = await http.post(
            "/v1/grids", json={"name": "新碶第2网格", "community": "集卡社区"}, headers=token()
        )
        union = await http.post(
            "/v1/organisations", json={"name": "货车司机工会", "kind": "union"}, headers=token()
        )
        steps = [
            await http.patch(
                f"/v1/drivers/{driver_id}",
                json={"grid_id": grid.json()["grid_id"], "home_province": "河南"},
                headers=token(),
            ),
            await http.post(
                f"/v1/organisations/{union.json()['organisation_id']}/members",
                json={"driver_id": driver_id},
                headers={**token(), "Idempotency-Key": "member-41"},
            ),
            await http.put(
                f"/v1/drivers/{driver_id}/consents/family_services",
                json={"granted": True, "channel": "paper"},
                headers=token(),
            ),
            await http.put(
                f"/v1/drivers/{driver_id}/family",
                json={"spouse_name": spouse, "children": [{"name": child, "birth_year": 2016}]},
                headers=token(),
            ),
            await http.post(
                f"/v1/drivers/{driver_id}/vehicles",
                json={"plate": "浙B9E04挂", "vehicle_type": "trailer", "pass_number": "BL-41"},
                headers=token(),
            ),
            await http.post(
                "/v1/drivers", json={**body, "name": "孙卫冬"}, headers=token()
            ),  # differing name: a review item
            await http.post(
                f"/v1/drivers/{driver_id}/pii/reveal",
                json={"field": "family", "purpose": "school_admission", "case_ref": "C-41"},
                headers=token(scope="pii:read"),
            ),
        ]
        assert [s.status_code for s in steps] == [200, 201, 200, 200, 201, 200, 200], [
            s.text for s in steps
        ]
        raw = await mongo[settings.mongo_db]["drivers"].find_one({"_id": driver_id})
        before = await database_text(mongo, settings.mongo_db)
        # Four eyes: one security officer asks, a second approves, then it runs.
        asked = await http.post(
            f"/v1/drivers/{driver_id}/erasure", json={"reason": "on_request"}, headers=token()
        )
        await approved(http, asked, token())
        erased = await http.get(f"/v1/drivers/{driver_id}", headers=token())

        async def driver_events() -> list[CloudEvent] | None:
            # Grids and organisations are keyed by their own ids and land on other partitions,
            # so only this driver's events (one key, one partition) have an order to check.
            records = await read_topic(
                infra.kafka_bootstrap, settings.topic("registry.events"), min_records=7
            )
            mine = [
                e for e in map(parse_envelope, (r.value for r in records)) if e.subject == driver_id
            ]
            return mine if any(e.type == "driver.deactivated.v1" for e in mine) else None

        events = await wait_until(driver_events)
        after = await database_text(mongo, settings.mongo_db)
        again = await http.post("/v1/drivers", json=body, headers=token())
        audit = await http.get("/v1/pii-access", params={"driver_id": driver_id}, headers=token())
    secrets = {
        "national ID": body["national_id"],
        "phone": body["phone"],
        "name": body["name"],
        "name under review": "孙卫冬",
        "spouse": spouse,
        "child": child,
        "plate": body["plate"],
        "trailer plate": "浙B9E04挂",
        "partner reference": "PB-77041",
        "ID hash": raw["national_id"]["hash"],
        "ID ciphertext": raw["national_id"]["enc"],
        "ID mask": raw["national_id"]["masked"],
        "phone hash": raw["phone"]["hash"],
        "phone ciphertext": raw["phone"]["enc"],
        "phone mask": raw["phone"]["masked"],
        "spouse ciphertext": raw["family"]["spouse_name"]["enc"],
        "child ciphertext": raw["family"]["children"][0]["name"]["enc"],
    }
    # The scan is meaningful: before erasure every one of these values was there to be found.
    found_before = {k for k, v in secrets.items() if any(v in text for text in before.values())}
    plain_never_stored = {"national ID", "phone", "spouse", "child"}
    assert found_before == set(secrets) - plain_never_stored
    leftovers = {
        (what, collection)
        for what, value in secrets.items()
        for collection, text in after.items()
        if value in text
    }
    assert leftovers == set()
    view = erased.json()
    assert (view["erased"], view["status"], view["name"], view["phone"]) == (
        True,
        "deactivated",
        None,
        None,
    )
    last = events[-1]
    assert (last.type, last.data["erased"], last.subject) == (
        "driver.deactivated.v1",
        True,
        driver_id,
    )
    assert again.status_code == 201 and again.json()["driver_id"] != driver_id
    entries = audit.json()["items"]
    assert [(e["field"], e["purpose"], e["case_ref"]) for e in entries] == [
        ("family", "school_admission", "C-41")
    ]


async def test_an_erasure_interrupted_after_the_driver_document_is_finished_at_start_up(
    make_settings: Callable[..., RegistrySettings], token: Headers, mongo: Any
) -> None:
    settings = make_settings(RegistrySettings)
    async with serve(create_app(settings)) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(42), headers=token())).json()[
            "driver_id"
        ]
    db = mongo[settings.mongo_db]
    # What a crash right after the first erasure steps leaves behind: the driver listed as
    # being erased (found by _id at start-up, no scan of drivers), then marked pending.
    await DriverStore(db).erasing(driver_id)
    await db["drivers"].update_one(
        {"_id": driver_id},
        {
            "$set": {"erased": True, "erasure": "pending", "status": "deactivated"},
            "$unset": {"name": "", "phone": "", "national_id": ""},
        },
    )
    assert await db["vehicles"].count_documents({"driver_id": driver_id}) == 1
    async with serve(create_app(settings)):
        await wait_until(lambda: _finished(db, driver_id), timeout=20)
    assert await db["vehicles"].count_documents({"driver_id": driver_id}) == 0
    assert await db["lookups"].count_documents({"_id": ERASING}) == 0


async def _finished(db: Any, driver_id: str) -> bool:
    doc = await db["drivers"].find_one({"_id": driver_id})
    return doc is not None and "erasure" not in doc


async def test_national_id_completion_must_match_the_hash_already_on_record(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(43), headers=token())).json()[
            "driver_id"
        ]
        other = await http.patch(
            f"/v1/drivers/{driver_id}", json={"national_id": national_id(44)}, headers=token()
        )
        same = await http.patch(
            f"/v1/drivers/{driver_id}", json={"national_id": national_id(43)}, headers=token()
        )
    assert other.status_code == 409 and national_id(44) not in other.text
    assert same.status_code == 200
