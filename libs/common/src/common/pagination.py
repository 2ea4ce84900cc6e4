"""Cursor pagination for list endpoints: sealed cursors over a stable sort key, capped limits.

A cursor is the position after a page's last item, sealed with AES-GCM under the service's
cursor key. The associated data names the service, the listing (method and route) and the
caller's reach (role and the id that scopes it: the driver, station, partner or handling unit),
so a cursor

- reveals nothing, not even the id of the record the page ended on (a driver whose listing
  scanned another driver's case learns nothing from the cursor);
- works only on the listing and for the caller it was made for; a tampered, foreign or expired
  (re-keyed) cursor is refused with 400 before anything reaches the store;
- opens only into the position shape its listing declares (a pydantic model), so a store query
  never sees an operator or a value of the wrong type.

A changed key only makes outstanding cursors invalid: clients start again from the first page.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from common.auth import Principal, current_principal
from common.problems import Problem

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# Long enough for any sealed position of ours; a longer query value is refused unread.
MAX_CURSOR_LENGTH = 500
_NONCE_BYTES = 12


class Position(BaseModel):
    """Where a listing continues; each listing's sort key is one subclass."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class AfterId(Position):
    """Lists in id order."""

    id: str


class AfterTime(Position):
    """Lists by a time (UTC, as stored), the id breaking ties."""

    at: datetime
    id: str

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # The store hands back naive UTC times unless its client is tz-aware.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class BeforeSeq(Position):
    """Lists newest first by a sequence number."""

    seq: int


class AfterDate(Position):
    """Lists by a day, a key (plate, name) breaking ties."""

    on: date
    key: str


P = TypeVar("P", bound=Position)


def _invalid() -> Problem:
    return Problem(400, "Bad Request", "the cursor is not valid")


class CursorSeal:
    """Seals and opens cursors for one service."""

    def __init__(self, key: bytes, service: str) -> None:
        self._aead = AESGCM(key)
        self._service = service

    def _context(self, listing: str, reach: str) -> bytes:
        return json.dumps([self._service, listing, reach], separators=(",", ":")).encode()

    def seal(self, position: Position, *, listing: str, reach: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        plain = position.model_dump_json().encode()
        sealed = self._aead.encrypt(nonce, plain, self._context(listing, reach))
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, token: str, shape: type[P], *, listing: str, reach: str) -> P:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._context(listing, reach)
            )
            return shape.model_validate_json(plain)
        except (binascii.Error, ValueError, InvalidTag, ValidationError) as exc:
            raise _invalid() from exc


def reach_of(principal: Principal) -> str:
    """Whose records a caller's listings cover: a cursor is valid for that reach only."""
    scoped = principal.driver_id or principal.station_id or principal.partner_id
    return f"{principal.role}:{scoped or principal.unit_id or ''}"


class Cursors:
    """The listing's cursors as a FastAPI dependency: sealed for this listing and this caller."""

    def __init__(
        self, request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> None:
        seal = getattr(request.app.state, "cursors", None)
        if not isinstance(seal, CursorSeal):
            raise RuntimeError("the app has no cursor seal (built by common.webapp?)")
        self._seal = seal
        route = request.scope.get("route")
        self._listing = f"{request.method} {getattr(route, 'path', request.url.path)}"
        self._reach = reach_of(principal)

    def open(self, token: str | None, shape: type[P]) -> P | None:
        """The position ``token`` points after (None: no token, the first page)."""
        if not token:
            return None
        return self._seal.open(token, shape, listing=self._listing, reach=self._reach)

    def next(self, position: Position | None) -> str | None:
        """The cursor of the page after ``position`` (None: this was the last page)."""
        if position is None:
            return None
        return self._seal.seal(position, listing=self._listing, reach=self._reach)


class PageParams(Cursors):
    """``?limit=&cursor=`` as a FastAPI dependency, with the listing's sealed cursors."""

    def __init__(
        self,
        request: Request,
        principal: Annotated[Principal, Depends(current_principal)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    ) -> None:
        super().__init__(request, principal)
        self.limit = limit
        self.cursor = cursor

    def after(self, shape: type[P]) -> P | None:
        """The position the query's cursor points after (None on the first page)."""
        return self.open(self.cursor, shape)

    def next_if_full(self, count: int, position: Position | None) -> str | None:
        """The next page's cursor when this page is full (``count`` items of ``limit``)."""
        return self.next(position) if count >= self.limit else None


# FastAPI runs a class dependency (and any plain function) in its thread pool: a thread hop on
# every listing request, which on a small machine was a millisecond of a search's latency
# (issue 19). These async builders make the same objects on the event loop.
async def page_params(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
) -> PageParams:
    return PageParams(request, principal, limit, cursor)


async def listing_cursors(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Cursors:
    return Cursors(request, principal)


PageQuery = Annotated[PageParams, Depends(page_params)]
CursorsQuery = Annotated[Cursors, Depends(listing_cursors)]
