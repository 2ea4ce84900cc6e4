"""Partners' API keys on the real store: stored as digests, shown once, rotated with an overlap,
revoked at once, and never a way into another partner's keys or into more scopes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from partners.app import create_app
from partners.settings import PartnersSettings
from tests.integration.test_partners_gateway import SINGLE, Headers, kept
from tests.support import serve

KEYS = "/v1/partners/port-booking/keys"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def issue(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = await http.post(KEYS, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def sends(http: httpx.AsyncClient, key: str) -> int:
    event = kept("drv_keys", str(uuid.uuid4()))
    answer = await http.post(
        "/v1/events", content=json.dumps(event), headers={**bearer(key), **SINGLE}
    )
    return answer.status_code


async def test_a_key_is_shown_once_kept_as_a_digest_and_works_until_revoked(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings = make_settings(PartnersSettings)
    async with serve(create_app(settings)) as http:
        made = await issue(http, token(), scopes=["events:write", "events:read"])
        key = made["key"]
        assert key.startswith(f"dhk_{made['key_id']}.") and made["state"] == "active"
        assert made["created_by"].startswith("operator")
        assert await sends(http, key) == 202
        stored = await mongo[settings.mongo_db]["api_keys"].find_one({"_id": made["key_id"]})
        secret = key.split(".", 1)[1]
        assert secret not in json.dumps(stored, default=str)
        listed = (await http.get(KEYS, headers=token())).json()
        assert [k["key_id"] for k in listed] == [made["key_id"]]
        assert "key" not in listed[0] and "digest" not in listed[0]

        wrong = f"dhk_{made['key_id']}.{'x' * len(secret)}"
        assert await sends(http, wrong) == 401
        assert await sends(http, "dhk_nonsense") == 401

        revoked = await http.post(f"{KEYS}/{made['key_id']}/revoke", headers=token())
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        assert await sends(http, key) == 401


async def test_a_partner_rotates_its_own_key_with_an_overlap_and_cannot_widen_it(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings = make_settings(PartnersSettings)
    async with serve(create_app(settings)) as http:
        first = await issue(http, token(), scopes=["events:write", "keys:manage"])
        own = bearer(first["key"])
        # With an overlap the old key keeps working; without one it stops at once.
        second = await issue(
            http, own, scopes=["events:write", "keys:manage"], replaces=first["key_id"]
        )
        assert await sends(http, first["key"]) == 202
        assert await sends(http, second["key"]) == 202
        third = await issue(
            http,
            bearer(second["key"]),
            scopes=["events:write"],
            replaces=second["key_id"],
            overlap_hours=0,
        )
        assert await sends(http, second["key"]) == 401
        assert await sends(http, third["key"]) == 202
        states = {k["key_id"]: k["state"] for k in (await http.get(KEYS, headers=token())).json()}
        assert states == {
            first["key_id"]: "active",
            second["key_id"]: "expired",
            third["key_id"]: "active",
        }

        # A key past its end is refused.
        await mongo[settings.mongo_db]["api_keys"].update_one(
            {"_id": first["key_id"]},
            {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
        )
        assert await sends(http, first["key"]) == 401

        # Least privilege: no wider key, no key without keys:manage, no one else's keys.
        manager = bearer((await issue(http, token(), scopes=["events:read", "keys:manage"]))["key"])
        wider = await http.post(KEYS, json={"scopes": ["events:write"]}, headers=manager)
        assert wider.status_code == 403 and "events:write" in wider.json()["detail"]
        plain = bearer(third["key"])
        assert (await http.get(KEYS, headers=plain)).status_code == 403
        other = "/v1/partners/station-kiosk/keys"
        assert (await http.get(other, headers=manager)).status_code == 404
        assert (
            await http.post(other, json={"scopes": ["events:read"]}, headers=manager)
        ).status_code == 404
        stranger = token("partner", partner_id="station-kiosk", scope="keys:manage")
        revoke_theirs = await http.post(f"{KEYS}/{third['key_id']}/revoke", headers=stranger)
        assert revoke_theirs.status_code == 404
        assert await sends(http, third["key"]) == 202
        driver = token("driver", driver_id="drv_keys")
        assert (await http.get(KEYS, headers=driver)).status_code == 403
        unknown = await http.post(f"{KEYS}/{'0' * 16}/revoke", headers=token())
        assert unknown.status_code == 404
