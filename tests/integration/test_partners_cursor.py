"""A forged rejections cursor is a bad request, never a server error.

The cursor is opaque but only base64 JSON: a caller can write one whose time the store cannot
hold (a date that leaves the calendar once in UTC), which once reached the store and answered
500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.pagination import encode_cursor
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from tests.support import serve


async def test_a_forged_rejections_cursor_is_refused_with_400(
    make_settings: Callable[..., Any], token: Callable[..., dict[str, str]]
) -> None:
    headers = token("partner", partner_id="port-booking", scope="events:read")
    async with serve(partners_app(make_settings(PartnersSettings))) as http:
        for at in ("9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+01:00", "not a time", 7):
            cursor = encode_cursor({"at": at, "id": "x"})
            answer = await http.get("/v1/rejections", params={"cursor": cursor}, headers=headers)
            assert answer.status_code == 400, (at, answer.status_code)
            assert answer.headers["content-type"].startswith("application/problem+json")
        naive = encode_cursor({"at": "2026-11-23T08:00:00", "id": "x"})
        answer = await http.get("/v1/rejections", params={"cursor": naive}, headers=headers)
        assert answer.status_code == 200 and answer.json()["items"] == []
