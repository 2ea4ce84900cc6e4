"""The DLQ API (common.dlq_api) on the real broker and store, through points: a partner event
for a driver the registry has not registered yet is held, given up to the DLQ, listed by points
with personal data masked; points refuses to replay it (409 replay-by-owner: it may not write
the partner's topic), the topic's owner (the partners service, its one writing service)
replays it once however often asked, and points credits it now that the driver exists; and
what the API refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.dlq import DeadLetter
from common.testing import Infra, headers_of, read_topic, synthetic_phone, unique_name, wait_until
from partners.app import create_app as create_partners
from partners.settings import PartnersSettings
from points.app import create_app
from points.settings import PointsSettings
from tests.integration.test_points_ledger import balance_is, registered, send
from tests.integration.test_points_parking import volunteer_at
from tests.support import produce, serve

PARTNER_TOPIC = "partner.volunteer-team.events"
DLQ = f"{PARTNER_TOPIC}.dlq"
RECORDS = f"/v1/dlq/{DLQ}/records"
NAME = "王建国"  # a partner's free-form extra: personal data the payload view must mask


def with_contact(event_bytes: bytes) -> bytes:
    """The partner also sent a contact's name (consumers ignore unknown fields)."""
    body = json.loads(event_bytes)
    body["data"]["contact_name"] = NAME
    return json.dumps(body, ensure_ascii=False).encode()


# handler_failed: the record check_refusals writes as if notify had dead-lettered it.
@pytest.mark.expects_dlq("driver_unknown", "handler_failed")
async def test_a_dead_letter_is_listed_masked_and_replayed_once_to_where_it_came_from(
    infra: Infra,
    make_settings: Callable[..., PointsSettings],
    mongo: Any,
    token: Callable[..., dict[str, str]],
) -> None:
    now = [datetime(2026, 12, 3, 8, 0, tzinfo=UTC)]
    settings = make_settings(PointsSettings, parked_hold_days=7)
    driver = unique_name("drv_")
    event = volunteer_at(driver, 2, now[0])
    ops = token("operator", roles=["operations"], sub="ops-li")
    app = create_app(settings, clock=lambda: now[0])
    owner_settings = make_settings(PartnersSettings)
    async with serve(app) as http, serve(create_partners(owner_settings)) as owner:
        await produce(
            infra.kafka_bootstrap,
            settings.topic(PARTNER_TOPIC),
            with_contact(event.to_bytes()),
            key=driver.encode(),
        )
        parked = mongo[settings.mongo_db]["parked"]
        await wait_until(lambda: parked.find_one({"driver_id": driver}))
        now[0] += timedelta(days=7, seconds=1)
        assert await app.state.service.sweep_parked() == 1  # given up: dead-lettered

        async def counted() -> dict[str, int] | None:
            # The given-up event leaves through points' outbox: on the DLQ a moment later.
            answer = (await http.get("/v1/dlq", headers=ops)).json()
            assert answer["service"] == "points"
            counts = {t["topic"]: t["records"] for t in answer["topics"]}
            return counts if counts[DLQ] else None

        counts = await wait_until(counted)
        assert counts[DLQ] == 1 and counts["registry.events.dlq"] == 0

        page = (await http.get(RECORDS, headers=ops)).json()
        [item] = page["items"]
        assert item["reason"] == "driver_unknown" and item["key"] == driver
        assert item["original_topic"] == PARTNER_TOPIC
        assert item["consumer_group"] == f"{settings.topic_prefix}points.partners"
        assert item["payload"]["id"] == event.id and item["payload"]["subject"] == driver
        masked = item["payload"]["data"]["contact_name"]
        leaked = NAME in json.dumps(page, ensure_ascii=False)
        assert masked == NAME[0] + "**" and not leaked, "the name is shown masked only"
        assert item["replay"] is None

        # The prerequisite is fixed: the driver registers. Nothing is credited by itself.
        await send(infra, settings, "registry.events", registered(driver))
        accounts = mongo[settings.mongo_db]["accounts"]
        await wait_until(lambda: accounts.find_one({"_id": driver}))
        assert await balance_is(mongo, settings, driver, 0)

        replay = f"{RECORDS}/{item['partition']}/{item['offset']}/replay"
        body = {"reason": "司机已登记，重新处理"}
        # Points consumed it but does not write the partner's topic: its owner replays.
        refused = await http.post(replay, json=body, headers=ops)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "replay-by-owner"
        assert refused.json()["owner"] == "partners"
        first = await owner.post(replay, json=body, headers={**ops, "Idempotency-Key": "k1"})
        again = await owner.post(replay, json={"reason": "again"}, headers=ops)
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert first.json()["published_now"] is True and again.json()["published_now"] is False
        assert again.json()["replay_id"] == first.json()["replay_id"]
        assert again.json()["by"] == "ops-li" and again.json()["reason"] == body["reason"]
        await wait_until(lambda: balance_is(mongo, settings, driver, 20))

        # The audit is the owner's (its store keeps the replay ledger), also per DLQ topic.
        for path in ("/v1/dlq/replays", f"/v1/dlq/replays?topic={DLQ}"):
            audit = (await owner.get(path, headers=ops)).json()["items"]
            assert [(a["replay_id"], a["state"]) for a in audit] == [
                (first.json()["replay_id"], "published")
            ]
        other = (await owner.get("/v1/dlq/replays?topic=points.events.dlq", headers=ops)).json()
        assert other["items"] == []
        assert (await http.get("/v1/dlq/replays", headers=ops)).json()["items"] == []
        lag = (await http.get("/v1/consumers/lag", headers=ops)).json()
        groups = {g["group"]: g for g in lag["groups"]}
        assert "points.partners" in groups and "points.registry.events" in groups
        await check_refusals(http, infra, settings, token)
        await check_forgeries(owner, infra, settings, ops)

    # The original topic got the record once more, not twice: the event and one replay.
    records = await read_topic(infra.kafka_bootstrap, settings.topic(PARTNER_TOPIC), min_records=2)
    copies = [r for r in records if json.loads(r.value)["id"] == event.id]
    assert len(copies) == 2
    replayed = headers_of(copies[1])
    assert replayed["dlq-replay-id"] == first.json()["replay_id"]
    assert replayed["dlq-replayed-by"] == "ops-li"
    assert not {"dlq-reason", "dlq-original-topic"} & set(replayed)
    # The dead letter's bytes (points keeps a held event and dead-letters it as it kept it).
    letter = (await read_topic(infra.kafka_bootstrap, settings.topic(DLQ)))[0]
    assert copies[1].value == letter.value and copies[1].key == letter.key


async def check_forgeries(
    owner: Any, infra: Infra, settings: PointsSettings, ops: dict[str, str]
) -> None:
    """Every consumer of a topic may write its .dlq twin (its own dead letters): a record there
    that is not the record at the place it names on the topic is never replayed by the owner,
    so a compromised consumer cannot publish on another service's topic by way of a replay."""
    [letter] = await read_topic(infra.kafka_bootstrap, settings.topic(DLQ))
    named = headers_of(letter)
    body = json.loads(letter.value)
    body["id"], body["data"]["hours"] = unique_name("forged-"), 200
    forged = json.dumps(body, ensure_ascii=False).encode()
    for value, place in ((forged, named), (letter.value, named | {"dlq-original-offset": "99999"})):
        await produce(
            infra.kafka_bootstrap,
            settings.topic(DLQ),
            value,
            key=letter.key,
            headers=[(k, v.encode()) for k, v in place.items()],
        )
    records = await read_topic(infra.kafka_bootstrap, settings.topic(DLQ), min_records=3)
    placed = [r for r in records if (r.partition, r.offset) != (letter.partition, letter.offset)]
    assert len(placed) == 2
    for record in placed:
        replay = f"{RECORDS}/{record.partition}/{record.offset}/replay"
        refused = await owner.post(replay, json={"reason": "伪造"}, headers=ops)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "not-the-original"


async def check_refusals(
    http: Any, infra: Infra, settings: PointsSettings, token: Callable[..., dict[str, str]]
) -> None:
    """Dead letters need the operations role's scopes and stay within the service: another
    service's DLQ topic, a topic that is no DLQ, and a record notify dead-lettered on a topic
    points also reads are all 404 to points to read; replaying that record is the registry's
    (409 replay-by-owner), and a place on its own topic's twin with no record is 404."""
    letter = DeadLetter(
        "handler_failed", "boom", f"{settings.topic_prefix}notify.registry", "", 0, 0
    )
    headers = letter.headers() | {"dlq-original-topic": settings.topic("registry.events")}
    ops = token("operator", roles=["operations"])
    reader = token("operator", scope="dlq:read")
    await produce(
        infra.kafka_bootstrap,
        settings.topic("registry.events.dlq"),
        b"not json",
        key=b"drv_x",
        headers=[(k, v.encode()) for k, v in headers.items()],
    )
    for path in ("/v1/dlq", "/v1/consumers/lag", "/v1/dlq/registry.events.dlq/records"):
        refused = await http.get(path, headers=token("operator", roles=["auditor"]))
        assert refused.status_code == 403, path
        assert refused.json()["missing_scope"] == "dlq:read"
    driver = await http.get("/v1/dlq", headers=token("driver", driver_id="d1"))
    assert driver.status_code == 403
    for name in ("notify.events.dlq", "nothing.dlq", "registry.events"):
        missing = await http.get(f"/v1/dlq/{name}/records", headers=ops)
        assert missing.status_code == 404, name
    page = (await http.get("/v1/dlq/registry.events.dlq/records", headers=ops)).json()
    assert page["items"] == []
    counts = (await http.get("/v1/dlq", headers=ops)).json()["topics"]
    assert {t["topic"]: t["records"] for t in counts}["registry.events.dlq"] == 0
    [theirs] = await read_topic(infra.kafka_bootstrap, settings.topic("registry.events.dlq"))
    replay = f"/v1/dlq/registry.events.dlq/records/{theirs.partition}/{theirs.offset}/replay"
    refused = await http.post(replay, json={"reason": "x"}, headers=reader)
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "dlq:replay"
    by_owner = await http.post(replay, json={"reason": "x"}, headers=ops)
    assert by_owner.status_code == 409 and by_owner.json()["owner"] == "registry"
    own = "/v1/dlq/points.events.dlq/records/0/99999/replay"
    assert (await http.post(own, json={"reason": "x"}, headers=ops)).status_code == 404
    no_dlq = "/v1/dlq/points.events/records/0/0/replay"
    assert (await http.post(no_dlq, json={"reason": "x"}, headers=ops)).status_code == 404


@pytest.mark.expects_dlq("handler_failed")
async def test_a_dead_letters_key_is_listed_masked_too(
    infra: Infra, make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    """A partner writing to Kafka chooses its records' keys: one keyed by a phone number shows
    it masked, like the payload."""
    settings = make_settings(PointsSettings)
    phone = synthetic_phone()
    letter = DeadLetter(
        "handler_failed", "boom", f"{settings.topic_prefix}points.partners", "", 0, 0
    )
    headers = letter.headers() | {"dlq-original-topic": settings.topic(PARTNER_TOPIC)}
    async with serve(create_app(settings)) as http:
        await produce(
            infra.kafka_bootstrap,
            settings.topic(DLQ),
            b"{}",
            key=phone.encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
        ops = token("operator", roles=["operations"])

        async def listed() -> list[dict[str, Any]] | None:
            items = (await http.get(RECORDS, headers=ops)).json()["items"]
            return list(items) if items else None

        [item] = await wait_until(listed)
    leaked = phone in json.dumps(item)  # a bare comparison would print the number if it failed
    assert not leaked, "the key is masked"
    assert item["key"], "something stands in its place"
