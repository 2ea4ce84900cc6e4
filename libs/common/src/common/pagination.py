"""Cursor pagination for list endpoints: opaque cursors over a stable sort key, capped limits."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Query

from common.problems import Problem

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque token for "after this item" (values must be JSON-serialisable)."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True, default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as exc:
        raise Problem(400, "Bad Request", "the cursor is not valid") from exc
    if not isinstance(position, dict):
        raise Problem(400, "Bad Request", "the cursor is not valid")
    return position


class PageParams:
    """``?limit=&cursor=`` as a FastAPI dependency."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> None:
        self.limit = limit
        self.cursor = cursor
        self.after = decode_cursor(cursor)
