"""The partner gateway's hardening, on the real broker and store: a suspended partner reads no
driver and makes no key; a partner's own keys only rotate, one key for one (two rotations at
once included), and never outlive their maker; one partner's stalled webhook does not hold
back the others' notices; a lone surrogate is refused, not a 500; a consumer's internal error
text never reaches the partner; a dead letter or an announcement names only the partner whose
topic and source it carries.

Each test is one finding: it failed on the code before the fix and passes after it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from common.erasure import DriverErasure, keyed_pseudonym
from common.events.partners import PartnersErasureCompleted
from common.events.points import EventParked, PointsAwarded
from common.testing import unique_name
from partners.app import create_app
from partners.domain import KeyNotReplaceable
from partners.erasure import STEPS
from partners.receipts import INTERNAL_ERROR
from partners.retention import retention_rules
from partners.service import Partners
from partners.settings import PartnersSettings
from tests.integration.test_partners_api_keys import KEYS, bearer, issue
from tests.integration.test_partners_gateway import BATCH, Headers, booking, kept, send
from tests.support import StaleFirst, approved, serve, webhook_receiver


async def suspend(http: httpx.AsyncClient, token: Headers, partner_id: str) -> None:
    asked = await http.post(
        f"/v1/partners/{partner_id}/suspend", json={"reason": "contract ended"}, headers=token()
    )
    await approved(http, asked, token())


def refused_as_suspended(answer: httpx.Response) -> bool:
    return answer.status_code == 403 and answer.json().get("reason") == "partner_suspended"


async def test_a_suspended_partner_reads_no_driver_and_manages_no_key(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    async with serve(create_app(make_settings(PartnersSettings))) as http:
        made = await issue(http, token(), scopes=["drivers:read", "events:read", "keys:manage"])
        own = bearer(made["key"])
        ref = {"ref": unique_name("PB-")}
        grade = f"/v1/drivers/{unique_name('drv_')}/grade"
        assert (await http.get("/v1/drivers", params=ref, headers=own)).status_code == 404
        await suspend(http, token, "port-booking")

        for headers in (own, booking(token)):
            assert refused_as_suspended(await http.get("/v1/drivers", params=ref, headers=headers))
            assert refused_as_suspended(await http.get(grade, headers=headers))
        rotation = {"scopes": ["drivers:read"], "replaces": made["key_id"]}
        assert refused_as_suspended(await http.post(KEYS, json=rotation, headers=own))
        assert refused_as_suspended(await http.get(KEYS, headers=own))
        revoke = f"{KEYS}/{made['key_id']}/revoke"
        assert refused_as_suspended(await http.post(revoke, headers=own))
        # Its receipts stay readable (what became of what it sent); operators keep their powers.
        assert (await http.get("/v1/events/unknown", headers=own)).status_code == 404
        assert (await http.get(KEYS, headers=token())).status_code == 200
        assert (await http.post(revoke, headers=token())).json()["state"] == "revoked"


def ends(view: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(view["expires_at"])


async def test_two_rotations_of_one_key_at_once_make_one_key(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """Both rotations read the old key as not replaced yet; only one may replace it, or one
    key would have become two."""
    app = create_app(make_settings(PartnersSettings))
    async with serve(app) as http:
        scopes = ["events:read", "keys:manage"]
        maker = await issue(http, token(), scopes=scopes, valid_days=10)
        own = bearer(maker["key"])
        keys = app.state.api_keys
        before = await keys.store.get(maker["key_id"])
        first = await issue(http, own, scopes=scopes, replaces=maker["key_id"])
        signed_in = await keys.principal(maker["key"])  # the second request's own key
        assert signed_in is not None
        with StaleFirst(keys.store, "get", before), pytest.raises(KeyNotReplaceable):
            await keys.rotate(signed_in, "port-booking", scopes, replaces=maker["key_id"])
        listed = (await http.get(KEYS, headers=token())).json()
    in_its_place = [
        k["key_id"] for k in listed if k["replaces"] == maker["key_id"] and k["state"] == "active"
    ]
    assert in_its_place == [first["key_id"]], "one key in for the one replaced"


async def test_a_partner_only_rotates_its_keys_and_never_past_its_own_expiry(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    async with serve(create_app(make_settings(PartnersSettings))) as http:
        scopes = ["events:read", "keys:manage"]
        maker = await issue(http, token(), scopes=scopes, valid_days=10)
        other = await issue(http, token(), scopes=scopes, valid_days=10)
        own = bearer(maker["key"])

        # Self-service is rotation: a key that replaces none is refused.
        unbounded = await http.post(KEYS, json={"scopes": ["events:read"]}, headers=own)
        assert unbounded.status_code == 403, unbounded.text
        assert "replaces" in unbounded.json()["detail"]

        # The new key ends when its maker ends, however long it asks for.
        forever = await issue(http, own, scopes=scopes, replaces=other["key_id"])
        longer = await issue(http, own, scopes=scopes, replaces=maker["key_id"], valid_days=700)
        for made in (forever, longer):
            assert made["expires_at"] is not None
            assert abs(ends(made) - ends(maker)) < timedelta(seconds=1)
        shorter = await issue(
            http, bearer(longer["key"]), scopes=scopes, replaces=forever["key_id"], valid_days=1
        )
        assert ends(shorter) < ends(maker) - timedelta(days=8)

        # One key in, one out: a key replaced or revoked already makes room for none.
        again = {"scopes": ["events:read"], "replaces": other["key_id"]}
        assert (await http.post(KEYS, json=again, headers=own)).status_code == 409
        await http.post(f"{KEYS}/{shorter['key_id']}/revoke", headers=token())
        revoked = {"scopes": ["events:read"], "replaces": shorter["key_id"]}
        assert (await http.post(KEYS, json=revoked, headers=own)).status_code == 409

        # A partner's token rotates only too; operators make keys as before.
        jwt = token("partner", partner_id="port-booking", scope="events:read keys:manage")
        assert (
            await http.post(KEYS, json={"scopes": ["events:read"]}, headers=jwt)
        ).status_code == 403
        by_operator = await issue(http, token(), scopes=scopes)
        assert by_operator["expires_at"] is None


@dataclass
class Stalled:
    """A webhook endpoint that reads each request and never answers it."""

    requests: int = 0
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        await reader.read()  # until the sender gives up and closes
        writer.close()


@asynccontextmanager
async def stalled_endpoint() -> AsyncIterator[Stalled]:
    stalled = Stalled()
    server = await asyncio.start_server(stalled.handle, "127.0.0.1", 0)
    stalled.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    async with server:
        yield stalled


async def test_one_partners_stalled_webhook_holds_back_only_its_own_notices(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    settings = make_settings(
        PartnersSettings,
        webhook_allowed_networks=["127.0.0.1/32"],
        webhook_timeout_seconds=0.5,
        webhook_sweep_seconds=3600,
    )
    app = create_app(settings)
    async with serve(app) as http, stalled_endpoint() as stalled, webhook_receiver() as hook:
        for partner_id, url in (("port-booking", stalled.url), ("station-kiosk", hook.url)):
            hooked = await http.put(
                f"/v1/partners/{partner_id}/webhook", json={"url": url}, headers=token()
            )
            assert hooked.status_code == 200, hooked.text
        partners: Partners = app.state.partners
        await partners.notices.stop()  # this test runs the rounds itself
        store = partners.receipts.notices
        first = datetime.now(UTC) - timedelta(minutes=5)
        owed = [("port-booking", n) for n in range(3)] + [("station-kiosk", 3)]
        for partner_id, n in owed:
            body = {"kind": "driver.linked", "ref": f"R-{n}", "driver_id": f"drv_{n}"}
            await store.owe(f"linked:{n}", partner_id, body, first + timedelta(seconds=n))

        assert await partners.notices.send_due() == 1
        assert stalled.requests == 1  # not one timeout per notice of the stalled partner
        assert [json.loads(body)["ref"] for _, body in hook.deliveries] == ["R-3"]
        # The one tried waits its backoff; the others were not tried, so used no attempt.
        tried = await store.get("linked:0")
        assert tried is not None and tried["attempts"] == 1 and tried["last_error"]
        assert tried["next_at"] > datetime.now(UTC)
        for n in (1, 2):
            waiting = await store.get(f"linked:{n}")
            assert waiting is not None and waiting["state"] == "pending"
            assert waiting["attempts"] == 0


def surrogate_in(event: dict[str, Any]) -> dict[str, Any]:
    # As JSON escapes it on the wire: half a surrogate pair, not a character.
    return {**event, "data": {**event["data"], "appointment_id": "A\ud800"}}


async def test_a_lone_surrogate_is_refused_per_event_not_a_server_error(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    async with serve(create_app(make_settings(PartnersSettings))) as http:
        headers = booking(token)
        single = await send(http, headers, surrogate_in(kept("drv_s", str(uuid.uuid4()))))
        assert single.status_code == 422, single.text
        assert single.json()["reason"] == "malformed_envelope"

        good, later = (kept("drv_s", str(uuid.uuid4())) for _ in range(2))
        bad = surrogate_in(kept("drv_s", str(uuid.uuid4())))
        bad_id = {**kept("drv_s", "id-\udc80"), "type": 7}
        answer = await http.post(
            "/v1/events",
            content=json.dumps([good, bad, bad_id, later]),
            headers={**headers, **BATCH},
        )
        assert answer.status_code == 207, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == [202, 422, 422, 202]
        assert results[1]["reason"] == "malformed_envelope" and results[1]["id"] == bad["id"]
        assert results[2]["id"] is None  # an id the answer cannot carry is not echoed
        assert (await http.get(f"/v1/events/{later['id']}", headers=headers)).status_code == 200


def dead_letter(settings: PartnersSettings, offset: int, reason: str, error: str) -> Any:
    event = kept("drv_dlq", str(uuid.uuid4()))
    return ConsumerRecord(
        topic=settings.partner_topic("port-booking") + ".dlq",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"drv_dlq",
        value=json.dumps(event).encode(),
        checksum=None,
        serialized_key_size=7,
        serialized_value_size=0,
        headers=[
            ("dlq-original-topic", settings.partner_topic("port-booking").encode()),
            ("dlq-original-partition", b"0"),
            ("dlq-original-offset", str(offset).encode()),
            ("dlq-consumer-group", settings.topic("points.partner").encode()),
            ("dlq-reason", reason.encode()),
            ("dlq-error", error.encode()),
        ],
    )


async def test_a_consumers_internal_error_text_never_reaches_the_partner(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    settings = make_settings(PartnersSettings)
    app = create_app(settings)
    internal = "DuplicateKeyError: E11000 duplicate key error collection: ledger (after 5 attempts)"
    async with serve(app) as http:
        partners: Partners = app.state.partners
        await partners.receipts.on_dead_letter(dead_letter(settings, 1, "handler_failed", internal))
        await partners.receipts.on_dead_letter(
            dead_letter(settings, 2, "invalid_data", "data.terminal: Field required")
        )
        answer = await http.get("/v1/rejections", headers=booking(token))
        assert answer.status_code == 200, answer.text
        shown = {item["offset"]: item["refusals"][0]["error"] for item in answer.json()["items"]}
        assert shown == {1: INTERNAL_ERROR, 2: "data.terminal: Field required"}
        notice = await partners.receipts.notices.get("rejection:partner.port-booking.events:0:1")
        assert notice is not None
        assert notice["body"]["rejection"]["refusals"][0]["error"] == INTERNAL_ERROR
        assert "E11000" not in answer.text


async def test_a_dead_letter_whose_header_names_another_partners_topic_is_not_theirs(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """Rejections are told to the partner whose queue the record sits in: a record in the
    booking system's queue whose header names the training centre's topic tells neither."""
    settings = make_settings(PartnersSettings)
    app = create_app(settings)
    async with serve(app) as http:
        partners: Partners = app.state.partners
        own = dead_letter(settings, 1, "invalid_data", "data.terminal: Field required")
        misplaced = dead_letter(settings, 2, "invalid_data", "data.terminal: Field required")
        misplaced.headers = [
            (name, settings.partner_topic("training-centre").encode())
            if name == "dlq-original-topic"
            else (name, value)
            for name, value in misplaced.headers
        ]
        recorded = [
            await partners.receipts.on_dead_letter(own),
            await partners.receipts.on_dead_letter(misplaced),
        ]
        mine = await http.get("/v1/rejections", headers=booking(token))
        theirs = await http.get("/v1/rejections", headers=booking(token, "training-centre"))
    assert recorded == [True, False]
    assert [item["offset"] for item in mine.json()["items"]] == [1]
    assert theirs.status_code == 200 and theirs.json()["items"] == []


async def test_an_announcement_names_only_its_own_partners_receipt(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """Receipts are keyed by partner and event id: another partner's event credited under the
    same id leaves the booking system's receipt as it was, and a malformed source names none."""
    settings = make_settings(PartnersSettings)
    app = create_app(settings)
    now = datetime.now(UTC)

    def award(source: str, cause_id: str) -> PointsAwarded:
        return PointsAwarded(
            driver_id="drv_cause",
            entry_id=f"e-{cause_id}",
            amount=2,
            balance_after=2,
            rule_id="appointment-on-time",
            cause_source=source,
            cause_id=cause_id,
            cause_type="port.appointment.kept.v1",
            awarded_at=now,
        )

    async with serve(app) as http:
        partners: Partners = app.state.partners
        # The booking system's event and another partner's credited one under the same id.
        sent = await send(http, booking(token), kept("drv_cause", "ev-shared"))
        assert sent.status_code == 202, sent.text
        await partners.receipts.on_points_awarded(award("partner/training-centre", "ev-shared"))
        shared = (await http.get("/v1/events/ev-shared", headers=booking(token))).json()
        for source in ("partner/port-booking/../training-centre", "partner/Port Booking", "x/y"):
            await partners.receipts.on_points_awarded(award(source, "ev-bad"))
        await partners.receipts.on_points_awarded(award("partner/port-booking", "ev-good"))
        stored = [
            (doc["partner_id"], doc["event_id"])
            async for doc in partners.receipts.receipts.collection.find({})
        ]
    assert (shared["status"], shared["applied"]) == ("accepted", [])
    assert sorted(stored) == [
        ("port-booking", "ev-good"),
        ("port-booking", "ev-shared"),
        ("training-centre", "ev-shared"),
    ]


async def test_an_erasure_reaches_a_receipt_that_names_the_driver_only_as_parked(
    make_settings: Callable[..., Any],
) -> None:
    """An event a partner sent straight to Kafka has a receipt made from points' parked
    announcement: no subject, the driver only in ``parked``. The erasure finds it there."""
    settings = make_settings(PartnersSettings)
    app = create_app(settings)
    now = datetime.now(UTC)
    driver = unique_name("drv_parked")
    async with serve(app):
        partners: Partners = app.state.partners
        await partners.receipts.on_event_parked(
            EventParked(
                driver_id=driver,
                cause_source="partner/port-booking",
                cause_id="ev-parked",
                cause_type="port.appointment.kept.v1",
                reason="account_not_active",
                parked_at=now,
                parked_until=now + timedelta(days=30),
            )
        )
        collection = partners.receipts.receipts.collection
        before = await collection.count_documents({"parked.driver_id": driver})
        erasure = DriverErasure(
            db=collection.database,
            publisher=None,  # type: ignore[arg-type]  # erase() publishes nothing
            service="partners",
            topic="partners.events",
            confirmation=PartnersErasureCompleted,
            steps=STEPS,
            pseudonym=keyed_pseudonym(settings.pii_hmac_key),
        )
        await erasure.erase(driver)
        left = [doc async for doc in collection.find({"event_id": "ev-parked"})]
    assert before == 1
    assert len(left) == 1 and driver not in json.dumps(left, default=str)


async def test_a_receipt_of_an_event_sent_straight_to_kafka_is_purged_like_any_other(
    make_settings: Callable[..., Any],
) -> None:
    """Receipts are kept 90 days from receipt; one made from an announcement (the event never
    came through the gateway) is dated the same way, or it names its driver for ever."""
    settings = make_settings(PartnersSettings)
    app = create_app(settings)
    now = datetime.now(UTC)
    async with serve(app):
        partners: Partners = app.state.partners
        await partners.receipts.on_points_awarded(
            PointsAwarded(
                driver_id="drv_direct",
                entry_id="e-direct",
                amount=2,
                balance_after=2,
                rule_id="appointment-on-time",
                cause_source="partner/port-booking",
                cause_id="ev-direct",
                cause_type="port.appointment.kept.v1",
                awarded_at=now,
            )
        )
        collection = partners.receipts.receipts.collection
        for rule in retention_rules(settings):
            await rule.apply(collection.database, now + timedelta(days=89), batch_size=50)
        kept = await collection.count_documents({"event_id": "ev-direct"})
        for rule in retention_rules(settings):
            await rule.apply(collection.database, now + timedelta(days=91), batch_size=50)
        left = await collection.count_documents({"event_id": "ev-direct"})
    assert (kept, left) == (1, 0)
