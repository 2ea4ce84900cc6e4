"""A forged rejections cursor is a bad request, never a server error.

Cursors are sealed (common.pagination): one a caller writes itself, even around a time the store
cannot hold (a date that leaves the calendar once in UTC, which once reached the store and
answered 500), is refused before anything is read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from tests.support import serve


def forged(position: dict[str, Any]) -> str:
    """A cursor as they were before they were sealed: base64 JSON."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


async def test_a_forged_rejections_cursor_is_refused_with_400(
    make_settings: Callable[..., Any], token: Callable[..., dict[str, str]]
) -> None:
    headers = token("partner", partner_id="port-booking", scope="events:read")
    async with serve(partners_app(make_settings(PartnersSettings))) as http:
        times = ("9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+01:00", "not a time", 7)
        for at in (*times, "2026-11-23T08:00:00"):
            cursor = forged({"at": at, "id": "x"})
            answer = await http.get("/v1/rejections", params={"cursor": cursor}, headers=headers)
            assert answer.status_code == 400, (at, answer.status_code)
            assert answer.headers["content-type"].startswith("application/problem+json")
