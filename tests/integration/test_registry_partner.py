"""The port booking system registers drivers on its partner topic; the registry creates or
links, records the partner's reference, and keeps disagreeing data for review."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from common.events import CloudEvent, new_event
from common.events.partner import PartnerDriverRegistered
from common.pii import partner_hash
from common.testing import read_topic, synthetic_phone, wait_until
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.integration.test_registry_lifecycle import distinct
from tests.integration.test_registry_rules import driver, national_id
from tests.support import produce, serve

Headers = Callable[..., dict[str, str]]


def partner_event(
    settings: RegistrySettings, number: str, ref: str, *, event_id: str | None = None, **data: Any
) -> CloudEvent:
    # The booking system hashes with its own key, never the registry's.
    digest = partner_hash(settings.partner_hash_keys["port-booking"]["pb1"], "national_id", number)
    return new_event(
        PartnerDriverRegistered(partner_driver_ref=ref, national_id_hash=digest, **data),
        source="partner/port-booking",
        subject=ref,
        event_id=event_id,
    )


async def send(infra: Any, settings: RegistrySettings, event: CloudEvent) -> None:
    await produce(
        infra.kafka_bootstrap,
        settings.partner_topic("port-booking"),
        event.to_bytes(),
        key=event.subject.encode(),
    )


async def find(http: httpx.AsyncClient, headers: dict[str, str], number: str) -> Any:
    answer = await http.post("/v1/drivers/search", json={"national_id": number}, headers=headers)
    items = answer.json()["items"]
    return items[0] if items else None


async def reviews_of(http: httpx.AsyncClient, headers: dict[str, str], driver_id: str) -> Any:
    answer = await http.get("/v1/reviews", params={"driver_id": driver_id}, headers=headers)
    return answer.json()["items"]


async def test_a_partner_registration_of_an_unknown_driver_creates_an_incomplete_driver(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    settings = make_settings(RegistrySettings)
    number = national_id(50)
    async with serve(create_app(settings)) as http:
        await send(
            infra,
            settings,
            partner_event(settings, number, "PB-50", name="赵永军", plate="浙B5P050"),
        )
        created = await wait_until(lambda: find(http, token(), number), timeout=60)
        as_partner = await http.get(
            f"/v1/drivers/{created['driver_id']}",
            headers=token("partner", partner_id="port-booking"),
        )
        completed = await http.patch(
            f"/v1/drivers/{created['driver_id']}",
            json={"phone": "13600000050", "national_id": number},
            headers=token(),
        )
        records = await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events"), min_records=2
        )
    assert created["channel"] == "partner" and created["name"] == "赵永军"
    assert (created["complete"], created["missing"]) == (False, ["phone", "national_id"])
    assert created["plates"] == ["浙B5P050"] and created["national_id"] is None
    assert as_partner.status_code == 200
    assert as_partner.json()["partner_links"][0]["partner_driver_ref"] == "PB-50"
    assert completed.json()["complete"] is True
    assert completed.json()["national_id"] == number[:4] + "**********" + number[-4:]
    events = distinct(records)
    assert [(e.type, e.data.get("channel"), e.data.get("changed_fields")) for e in events] == [
        ("driver.registered.v1", "partner", None),
        ("driver.updated.v1", None, ["phone", "national_id"]),
    ]


async def test_a_redelivered_or_resent_partner_registration_changes_nothing_the_second_time(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any, mongo: Any
) -> None:
    settings = make_settings(RegistrySettings)
    number = national_id(51)
    event = partner_event(settings, number, "PB-51", name="吴春生", plate="浙B5P051")
    resent = partner_event(settings, number, "PB-51", name="吴春生", plate="浙B5P051")
    sentinel = partner_event(settings, national_id(52), "PB-52", name="郑明")
    async with serve(create_app(settings)) as http:
        for each in (event, event, resent, sentinel):
            await send(infra, settings, each)
        await wait_until(lambda: find(http, token(), national_id(52)), timeout=60)
        await wait_until(lambda: _marked(mongo, settings, 3), timeout=30)
        found = await http.post("/v1/drivers/search", json={"national_id": number}, headers=token())
        reviews = await reviews_of(http, token(), found.json()["items"][0]["driver_id"])
        records = await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events"), min_records=2
        )
    assert len(found.json()["items"]) == 1
    assert reviews == []
    assert [e.type for e in distinct(records)] == ["driver.registered.v1"] * 2
    assert await mongo[settings.mongo_db]["drivers"].count_documents({}) == 2


async def _marked(mongo: Any, settings: RegistrySettings, count: int) -> bool:
    return await mongo[settings.mongo_db]["processed_events"].count_documents({}) >= count


async def test_a_conflicting_partner_registration_asks_for_a_link_and_keeps_the_register_for_review(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    settings = make_settings(RegistrySettings)
    number = national_id(53)
    async with serve(create_app(settings)) as http:
        known = await http.post(
            "/v1/drivers", json=driver(53, name="陈国华", plate="浙B5P053"), headers=token()
        )
        driver_id = known.json()["driver_id"]
        await send(
            infra,
            settings,
            partner_event(settings, number, "PB-53", name="陈国化", plate="浙B5P099"),
        )
        # Registered elsewhere first: the booking system's registration is a link request
        # until the driver confirms it.
        mine = token("driver", driver_id=driver_id)
        asked = await wait_until(lambda: _requests(http, mine, driver_id), timeout=60)
        unlinked = (await http.get(f"/v1/drivers/{driver_id}", headers=token())).json()
        confirmed = await http.post(
            f"/v1/drivers/{driver_id}/partner-links/port-booking", headers=mine
        )
        assert confirmed.status_code == 200, confirmed.text
        linked = await wait_until(lambda: _linked(http, token(), driver_id), timeout=60)
        await send(infra, settings, partner_event(settings, number, "PB-53-NEW"))
        queued = await wait_until(
            lambda: _reviews_at_least(http, token(), driver_id, 3), timeout=60
        )
        by_field = {r["field"]: r for r in queued}
        accepted = await http.post(
            f"/v1/reviews/{by_field['name']['review_id']}/resolution",
            json={"decision": "accept"},
            headers=token(),
        )
        rejected = await http.post(
            f"/v1/reviews/{by_field['plate']['review_id']}/resolution",
            json={"decision": "reject"},
            headers=token(),
        )
        twice = await http.post(
            f"/v1/reviews/{by_field['plate']['review_id']}/resolution",
            json={"decision": "accept"},
            headers=token(),
        )
        final = await http.get(f"/v1/drivers/{driver_id}", headers=token())
        still_open = await reviews_of(http, token(), driver_id)
    assert [r["partner_driver_ref"] for r in asked] == ["PB-53"]
    assert unlinked["partner_links"] == []
    assert linked["name"] == "陈国华" and linked["plates"] == ["浙B5P053"], "nothing overwritten"
    assert [link["partner_driver_ref"] for link in linked["partner_links"]] == ["PB-53"]
    assert linked["partner_links"][0]["basis"] == "consent"
    assert {(r["field"], r["proposed"], r["current"]) for r in queued} == {
        ("name", "陈国化", "陈国华"),
        ("plate", "浙B5P099", "浙B5P053"),
        ("partner_driver_ref", "PB-53-NEW", "PB-53"),
    }
    assert all(r["source"].startswith("partner/port-booking/") for r in queued)
    assert accepted.json()["status"] == "accepted" and rejected.json()["status"] == "rejected"
    assert twice.status_code == 409
    assert final.json()["name"] == "陈国化" and final.json()["plates"] == ["浙B5P053"]
    assert [r["field"] for r in still_open] == ["partner_driver_ref"]


async def _requests(http: httpx.AsyncClient, headers: dict[str, str], driver_id: str) -> Any:
    answer = await http.get(f"/v1/drivers/{driver_id}/partner-links", headers=headers)
    return answer.json()["requests"] or None


async def _linked(http: httpx.AsyncClient, headers: dict[str, str], driver_id: str) -> Any:
    view = (await http.get(f"/v1/drivers/{driver_id}", headers=headers)).json()
    return view if view["partner_links"] else None


async def _reviews_at_least(
    http: httpx.AsyncClient, headers: dict[str, str], driver_id: str, count: int
) -> Any:
    items = await reviews_of(http, headers, driver_id)
    return items if len(items) >= count else None


async def test_a_partner_driver_whose_plate_another_driver_holds_is_created_without_it(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    settings = make_settings(RegistrySettings)
    async with serve(create_app(settings)) as http:
        holder = await http.post("/v1/drivers", json=driver(54, plate="浙B5P054"), headers=token())
        await send(
            infra, settings, partner_event(settings, national_id(55), "PB-55", plate="浙B5P054")
        )
        created = await wait_until(lambda: find(http, token(), national_id(55)), timeout=60)
        queued = await reviews_of(http, token(), created["driver_id"])
        holder_view = await http.get(f"/v1/drivers/{holder.json()['driver_id']}", headers=token())
    assert created["plates"] == [] and created["missing"] == ["name", "phone", "national_id"]
    assert [(r["field"], r["reason"], r["proposed"]) for r in queued] == [
        ("plate", "plate_taken", "浙B5P054")
    ]
    assert holder_view.json()["plates"] == ["浙B5P054"]


async def test_a_partner_the_driver_is_not_linked_to_fills_no_gap_of_their_record(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    """Knowing an ID number is no consent. A driver the booking system registered has no phone
    and no plate yet; another partner registering the same number over HTTP only asks for a
    link. What it sent for the empty fields waits for an operator, and no plate is claimed."""
    settings = make_settings(RegistrySettings)
    number = national_id(56)
    async with serve(create_app(settings)) as http:
        await send(infra, settings, partner_event(settings, number, "PB-56", name="孙立新"))
        created = await wait_until(lambda: find(http, token(), number), timeout=60)
        driver_id = created["driver_id"]
        other = token("partner", partner_id="volunteer-team")
        phone = synthetic_phone()
        asked = await http.post(
            "/v1/drivers",
            json=driver(56, phone=phone, plate="浙B5P956", partner_driver_ref="VT-1"),
            headers=other,
        )
        after = (await http.get(f"/v1/drivers/{driver_id}", headers=token())).json()
        queued = await reviews_of(http, token(), driver_id)
        # The plate stays free for whoever holds it.
        holder = await http.post("/v1/drivers", json=driver(57, plate="浙B5P956"), headers=token())
        requests = (
            await http.get(
                f"/v1/drivers/{driver_id}/partner-links",
                headers=token("driver", driver_id=driver_id),
            )
        ).json()["requests"]
    assert asked.status_code == 202, asked.text
    assert after["phone"] is None and after["plates"] == [] and after["national_id"] is None
    assert after["name"] == "孙立新" and after["partner_links"] == created["partner_links"]
    assert {(r["field"], r["reason"], r["current"]) for r in queued} == {
        ("name", "differs", "孙立新"),  # as from anyone
        ("phone", "unlinked_partner", None),
        ("plate", "unlinked_partner", None),
    }
    assert phone not in str(queued), "a proposed phone is shown masked"
    assert holder.status_code == 201, holder.text
    assert [r["partner_id"] for r in requests] == ["volunteer-team"]
