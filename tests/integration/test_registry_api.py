"""Registry over HTTP against the real store and broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from common.events import parse_envelope
from common.pii import mask_national_id, mask_phone
from common.testing import (
    read_topic,
    synthetic_national_id,
    synthetic_phone,
    with_wrong_check_digit,
)
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.support import serve

# Generated per run (valid check digit): no fixed real-looking numbers in the test code.
NATIONAL_ID = synthetic_national_id()
PHONE = synthetic_phone()
WRONG_CHECK_DIGIT = with_wrong_check_digit(NATIONAL_ID)


def registration(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "王建国",
        "phone": PHONE,
        "national_id": NATIONAL_ID,
        "plate": "浙B12345",
        "fleet": "北仑顺达物流",
        **overrides,
    }


async def test_registering_the_same_national_id_twice_gives_one_driver(
    make_settings: Callable[..., RegistrySettings], token: Callable[..., dict[str, str]]
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        first = await http.post("/v1/drivers", json=registration(), headers=token("operator"))
        again = await http.post(
            "/v1/drivers",
            json=registration(name="王建国", plate="浙B99999"),
            headers=token("station", station_id="st-1"),
        )
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["driver_id"] == first.json()["driver_id"]
    assert again.json()["plate"] == "浙B12345", "a second registration must not overwrite"


async def test_a_new_drivers_answer_shows_the_plates_a_read_shows(
    make_settings: Callable[..., RegistrySettings], token: Callable[..., dict[str, str]]
) -> None:
    """The answer to a registration is built from the plate just claimed, without reading the
    driver's plates back: it must show what reading them shows."""
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        answer = await http.post("/v1/drivers", json=registration(), headers=token())
        read = await http.get(f"/v1/drivers/{answer.json()['driver_id']}", headers=token())
    assert answer.status_code == 201, answer.text
    assert (answer.json()["plate"], answer.json()["plates"]) == ("浙B12345", ["浙B12345"])
    assert (read.json()["plate"], read.json()["plates"]) == ("浙B12345", ["浙B12345"])


async def test_a_registered_driver_is_announced_through_the_outbox_without_pii(
    make_settings: Callable[..., RegistrySettings],
    token: Callable[..., dict[str, str]],
    infra: Any,
) -> None:
    settings = make_settings(RegistrySettings)
    async with serve(create_app(settings)) as http:
        created = await http.post("/v1/drivers", json=registration(), headers=token())
        driver_id = created.json()["driver_id"]
        records = await read_topic(infra.kafka_bootstrap, settings.topic("registry.events"))
    assert len({parse_envelope(r.value).id for r in records}) == 1, "published at least once"
    event = parse_envelope(records[0].value)
    assert (event.type, event.subject, records[0].key) == (
        "driver.registered.v1",
        driver_id,
        driver_id.encode(),
    )
    assert NATIONAL_ID.encode() not in records[0].value
    assert PHONE.encode() not in records[0].value


async def test_the_api_answers_with_masked_pii_only(
    make_settings: Callable[..., RegistrySettings], token: Callable[..., dict[str, str]]
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        created = await http.post("/v1/drivers", json=registration(), headers=token())
        fetched = await http.get(f"/v1/drivers/{created.json()['driver_id']}", headers=token())
    for answer in (created, fetched):
        assert NATIONAL_ID not in answer.text and PHONE not in answer.text
        assert answer.json()["national_id"] == mask_national_id(NATIONAL_ID)
        assert answer.json()["phone"] == mask_phone(PHONE)


async def test_pii_rests_in_the_store_only_as_hash_ciphertext_and_mask(
    make_settings: Callable[..., RegistrySettings],
    token: Callable[..., dict[str, str]],
    mongo: Any,
) -> None:
    settings = make_settings(RegistrySettings)
    async with serve(create_app(settings)) as http:
        await http.post("/v1/drivers", json=registration(), headers=token())
    docs = [d async for d in mongo[settings.mongo_db]["drivers"].find()]
    assert len(docs) == 1
    stored = repr(docs[0])
    assert NATIONAL_ID not in stored and PHONE not in stored


async def test_a_driver_is_stored_without_empty_fields_and_reads_and_changes_as_before(
    make_settings: Callable[..., RegistrySettings],
    token: Callable[..., dict[str, str]],
    mongo: Any,
) -> None:
    """The stored form leaves out every empty list and map (``registry.store.drivers.to_doc``):
    reads give them as empty, and a change writes into a field that is not there yet."""
    settings = make_settings(RegistrySettings)
    async with serve(create_app(settings)) as http:
        made = await http.post("/v1/drivers", json=registration(), headers=token())
        driver_id = made.json()["driver_id"]
        stored = await mongo[settings.mongo_db]["drivers"].find_one({"_id": driver_id})
        # The outbox is the relay's: emptied once the event is out.
        empty = sorted(k for k, v in stored.items() if v in ([], {}, None) and k != "outbox")
        assert empty == [], empty
        assert "consents" not in stored and "languages" not in stored
        read = await http.get(f"/v1/drivers/{driver_id}", headers=token())
        assert (read.json()["languages"], read.json()["consents"]) == ([], {})
        me = token("driver", driver_id=driver_id)
        granted = await http.put(
            f"/v1/drivers/{driver_id}/consents/family_services",
            json={"granted": True, "channel": "app"},
            headers=me,
        )
        assert granted.status_code == 200, granted.text
        again = await http.get(f"/v1/drivers/{driver_id}", headers=token())
    assert again.json()["consents"] == {"family_services": True}


@pytest.mark.parametrize(
    ("headers_for", "status"),
    [
        (lambda token: {}, 401),
        (lambda token: {"Authorization": "Bearer not-a-jwt"}, 401),
    ],
)
async def test_unauthenticated_requests_get_401(
    make_settings: Callable[..., RegistrySettings],
    token: Callable[..., dict[str, str]],
    headers_for: Callable[[Any], dict[str, str]],
    status: int,
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        answer = await http.post("/v1/drivers", json=registration(), headers=headers_for(token))
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"


async def test_other_drivers_and_unlinked_partners_get_404_for_a_driver_record(
    make_settings: Callable[..., RegistrySettings], token: Callable[..., dict[str, str]]
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        created = await http.post("/v1/drivers", json=registration(), headers=token())
        driver_id = created.json()["driver_id"]
        as_partner = await http.get(f"/v1/drivers/{driver_id}", headers=token("partner"))
        as_other_driver = await http.get(
            f"/v1/drivers/{driver_id}", headers=token("driver", driver_id="drv_someone_else")
        )
        as_self = await http.get(
            f"/v1/drivers/{driver_id}", headers=token("driver", driver_id=driver_id)
        )
    assert as_partner.status_code == 404, "a partner sees only drivers it is linked to"
    assert as_other_driver.status_code == 404
    assert as_self.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (registration(nickname="x"), "nickname"),
        (registration(name={"$gt": ""}), "name"),
        (registration(fleet="$where"), "fleet"),
        (registration(national_id=WRONG_CHECK_DIGIT), "national_id"),
        (registration(phone="12345678901"), "phone"),
        (registration(plate="AB12345"), "plate"),
    ],
)
async def test_invalid_bodies_get_422_without_echoing_input(
    make_settings: Callable[..., RegistrySettings],
    token: Callable[..., dict[str, str]],
    body: dict[str, Any],
    field: str,
) -> None:
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        answer = await http.post("/v1/drivers", json=body, headers=token())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.text
    assert WRONG_CHECK_DIGIT not in answer.text and PHONE not in answer.text
