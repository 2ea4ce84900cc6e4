"""Mall vouchers on the real broker and store: signed at reservation, checked offline at the
counter, synced later - the first scan of a voucher collects it, a second is recorded and
flagged, a re-sync changes nothing, and a key rotation keeps issued vouchers valid."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from common.testing import unique_name
from points.app import create_app
from points.settings import PointsSettings
from points.voucher import VoucherQueue, VoucherRefused, main, sync, verify_voucher
from points.vouchers import RetiredKey, VoucherKeys, Vouchers
from tests.integration.test_points_mall import add_reward, assert_balanced, driver_with, parts
from tests.support import serve

COUNTERS = ["counter-a", "counter-b"]
Headers = Callable[..., dict[str, str]]


@pytest.fixture
async def points(
    make_settings: Callable[..., PointsSettings],
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        yield app, http


async def reserved_voucher(
    app: FastAPI, http: httpx.AsyncClient, token: Headers
) -> tuple[str, str, str]:
    service, mall = parts(app)
    driver_id = await driver_with(service, 500)
    reward_id = await add_reward(mall, cost=200, stock=3, channel="counter", counters=COUNTERS)
    answer = await http.post(
        "/v1/redemptions",
        json={"reward_id": reward_id},
        headers=token("driver", driver_id=driver_id),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["voucher"] and len(body["voucher"]) < 400  # fits a QR code comfortably
    return driver_id, body["redemption_id"], body["voucher"]


async def published_keys(http: httpx.AsyncClient, folder: Path) -> Path:
    answer = await http.get("/v1/vouchers/keys")  # no token: counters fetch it as they are
    assert answer.status_code == 200
    path = folder / "keys.json"
    path.write_text(answer.text)
    return path


def scan(voucher: str, keys: Path, counter: str, queue: Path) -> int:
    return main(
        ["verify", voucher, "--keys", str(keys), "--counter", counter, "--queue", str(queue)]
    )


async def test_a_voucher_checked_offline_at_two_counters_is_collected_once_and_the_second_flagged(
    points: tuple[FastAPI, httpx.AsyncClient], token: Headers, tmp_path: Path
) -> None:
    app, http = points
    service, mall = parts(app)
    driver_id, rid, voucher = await reserved_voucher(app, http, token)
    keys = await published_keys(http, tmp_path)
    queue_a, queue_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"

    # Offline: both counters accept the genuine voucher, each once; forgeries are refused.
    assert scan(voucher, keys, "counter-a", queue_a) == 0
    assert scan(voucher, keys, "counter-a", queue_a) == 1  # the same counter knows it already
    assert scan(voucher, keys, "counter-b", queue_b) == 0
    assert scan(voucher, keys, "counter-z", tmp_path / "z.jsonl") == 1  # not handed over there
    head, claims, signature = voucher.split(".")
    forged = json.loads(base64.urlsafe_b64decode(claims + "=="))
    forged["w"] = "gold-bar"
    tampered = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(VoucherRefused, match="signature"):
        verify_voucher(f"{head}.{tampered}.{signature}", json.loads(keys.read_text()))

    # Counter b syncs first: its scan collects the reservation (points were taken at reserve).
    b_results = await sync(VoucherQueue(queue_b), http, token("station", station_id="counter-b"))
    assert [r["outcome"] for r in b_results] == ["counted"]
    redemption = await mall.redemption(rid)
    assert (redemption.state, redemption.fulfilled_at_counter) == ("fulfilled", "counter-b")
    await assert_balanced(service, driver_id, 300)
    reward = await mall.catalogue.reward(redemption.reward_id)
    assert (reward.stock, reward.held) == (2, 0)

    a_results = await sync(VoucherQueue(queue_a), http, token("station", station_id="counter-a"))
    assert [(r["outcome"], r["flagged"]) for r in a_results] == [("duplicate", True)]
    assert VoucherQueue(queue_a).pending() == []

    # Re-sync of a batch already taken: the same answers, nothing collected twice.
    item = VoucherQueue(queue_b).items()[0]
    again = await http.post(
        "/v1/vouchers/redemptions",
        json={
            "counter_id": "counter-b",
            "items": [{k: item[k] for k in ("scan_id", "voucher", "scanned_at")}],
        },
        headers=token("station", station_id="counter-b"),
    )
    assert again.status_code == 200, again.text
    assert again.json()["items"][0]["outcome"] == "counted"
    await assert_balanced(service, driver_id, 300)
    assert (await mall.catalogue.reward(redemption.reward_id)).stock == 2

    # The operator's view: both scans recorded, the second flagged.
    recorded = await http.get(
        "/v1/vouchers/redemptions",
        params={"redemption_id": rid},
        headers=token("operator", roles=["auditor"]),
    )
    assert recorded.status_code == 200, recorded.text
    by_counter = {s["counter_id"]: (s["outcome"], s["flagged"]) for s in recorded.json()["items"]}
    assert by_counter == {"counter-b": ("counted", False), "counter-a": ("duplicate", True)}
    # A counter syncs only its own scans.
    foreign = await http.post(
        "/v1/vouchers/redemptions",
        json={
            "counter_id": "counter-a",
            "items": [{k: item[k] for k in ("scan_id", "voucher", "scanned_at")}],
        },
        headers=token("station", station_id="counter-b"),
    )
    assert foreign.status_code == 403


async def test_after_a_key_rotation_old_vouchers_verify_until_their_key_retires(
    points: tuple[FastAPI, httpx.AsyncClient], token: Headers, tmp_path: Path
) -> None:
    app, http = points
    _, mall = parts(app)
    vouchers: Vouchers = app.state.vouchers
    old_key = Ed25519PrivateKey.generate()
    vouchers.keys = VoucherKeys(seed_of(old_key), [])
    driver_id, rid, old_voucher = await reserved_voucher(app, http, token)
    old_kid = vouchers.keys.current["kid"]

    # Rotation: a new signing key; the old public key listed until its vouchers expire.
    vouchers.keys = VoucherKeys(
        seed_of(Ed25519PrivateKey.generate()),
        [
            RetiredKey(old_key.public_key(), datetime.now(UTC) + timedelta(days=30)),
            RetiredKey(Ed25519PrivateKey.generate().public_key(), datetime.now(UTC)),  # done
        ],
    )

    keys = await published_keys(http, tmp_path)
    published = json.loads(keys.read_text())["keys"]
    assert [k["not_after"] is None for k in published] == [True, False]  # the expired one gone
    assert published[1]["kid"] == old_kid
    shown = f"/v1/redemptions/{rid}/voucher"
    new_voucher = (await http.get(shown, headers=token("driver", driver_id=driver_id))).json()
    # A voucher collects the reward: only its driver is shown it, not an operator who reads
    # redemptions (an auditor) or manages the mall, nor another driver.
    refused = [
        await http.get(shown, headers=headers)
        for headers in (
            token(roles=["auditor"]),
            token(scope="points:read mall:manage"),
            token("driver", driver_id=unique_name("drv_")),
        )
    ]
    assert [r.status_code for r in refused] == [403, 403, 404]
    assert all("voucher" not in r.json() for r in refused)
    assert (
        json.loads(base64.urlsafe_b64decode(new_voucher["voucher"].split(".")[0] + "=="))["kid"]
        == published[0]["kid"]
    )

    queue = tmp_path / "q.jsonl"
    assert scan(old_voucher, keys, "counter-a", queue) == 0
    results = await sync(VoucherQueue(queue), http, token("station", station_id="counter-a"))
    assert [r["outcome"] for r in results] == ["counted"]
    assert (await mall.redemption(rid)).state == "fulfilled"

    # A key retiring before a voucher's expiry cannot vouch for it.
    short = {"keys": [dict(published[1], not_after=datetime.now(UTC).isoformat())]}
    with pytest.raises(VoucherRefused, match="longer than its key"):
        verify_voucher(old_voucher, short)


def seed_of(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes_raw()).decode()
