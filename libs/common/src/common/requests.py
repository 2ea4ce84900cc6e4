"""``Idempotency-Key`` for writes that clients may retry (handbook section 4).

The first request with a key stores its answer; a retry with the same key and the same body
gets the stored answer, a retry with a different body gets 422. Keys are scoped per caller.

A request in progress holds its key under a lease that it renews while it runs. A retry during
the lease answers 409; a retry after it (the process died mid-request, so nobody renewed it)
takes the key over with one conditional update and runs the request itself. Records are kept
for the retention the services purge them after (``common.retention``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from common.auth import Principal
from common.clock import Clock, utc_now
from common.mongo import Indexes, insert_once
from common.problems import Problem
from common.settings import ServiceSettings

Document = dict[str, Any]
IDEMPOTENCY_KEYS = "idempotency_keys"
DEFAULT_LEASE_SECONDS = 30.0
MAX_KEY_LENGTH = 200

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe: the same key and body answer the first answer again",
    ),
]


def idempotency_indexes(name: str = IDEMPOTENCY_KEYS) -> Indexes:
    return Indexes(
        name, (IndexModel([("created_at", 1)], name="created_at"),), purge_by="created_at"
    )


def _fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotentRequests:
    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Clock = utc_now,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._collection = collection
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock

    async def run(
        self,
        *,
        caller: str,
        key: str | None,
        body: Any,
        action: Callable[[], Awaitable[tuple[int, Any]]],
        driver_ids: Sequence[str] = (),
    ) -> tuple[int, Any]:
        """Run ``action`` once per ``(caller, key)``; returns ``(status, json body)``.

        The stored record names the drivers the request and its answer concern, so their
        erasure finds it (``common.erasure``).
        """
        if key is None:
            return await action()
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise Problem(400, "Bad Request", "Idempotency-Key must be 1-200 characters")
        doc_id = f"{caller}\x1f{key}"
        fingerprint = _fingerprint(body)
        owner = uuid.uuid4().hex
        stored = await self._collection.find_one({"_id": doc_id})
        if stored is None:
            stored = await self._claim_new(doc_id, fingerprint, owner, driver_ids)
        elif stored.get("fingerprint") == fingerprint and stored.get("state") == "running":
            stored = await self._take_over(doc_id, fingerprint, owner) or stored
        if stored.get("owner") != owner:
            return self._replay(stored, fingerprint)
        renewing = asyncio.create_task(self._renew(doc_id, owner))
        try:
            status, answer = await action()
        except BaseException:
            # Nothing was answered: let the client retry with the same key.
            await self._collection.delete_one({"_id": doc_id, "state": "running", "owner": owner})
            raise
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        await self._collection.update_one(
            {"_id": doc_id, "owner": owner},
            {
                "$set": {"state": "done", "status": status, "answer": answer},
                "$addToSet": {"driver_ids": {"$each": sorted(drivers_named(answer))}},
            },
        )
        return status, answer

    async def _claim_new(
        self, doc_id: str, fingerprint: str, owner: str, driver_ids: Sequence[str]
    ) -> Document:
        now = self._clock()
        doc = {
            "_id": doc_id,
            "driver_ids": sorted(set(driver_ids)),
            "fingerprint": fingerprint,
            "state": "running",
            "owner": owner,
            "lease_until": now + self._lease,
            "created_at": now,
        }
        if not await insert_once(self._collection, doc):
            return await self._collection.find_one({"_id": doc_id}) or {}
        return doc

    async def _take_over(self, doc_id: str, fingerprint: str, owner: str) -> Document | None:
        """The key if its lease ran out (its request died), now ours; else None."""
        now = self._clock()
        expired: list[Document] = [
            {"lease_until": {"$lt": now}},
            # Records from before leases existed: their request is as old as the record.
            {"lease_until": {"$exists": False}, "created_at": {"$lt": now - self._lease}},
        ]
        return await self._collection.find_one_and_update(
            {"_id": doc_id, "state": "running", "fingerprint": fingerprint, "$or": expired},
            {"$set": {"owner": owner, "lease_until": now + self._lease}},
            return_document=ReturnDocument.AFTER,
        )

    async def _renew(self, doc_id: str, owner: str) -> None:
        # A live request keeps its key however long it takes; only a dead one lets it lapse.
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            with contextlib.suppress(Exception):  # store away: the lease may lapse, as if dead
                await self._collection.update_one(
                    {"_id": doc_id, "state": "running", "owner": owner},
                    {"$set": {"lease_until": self._clock() + self._lease}},
                )

    @staticmethod
    def _replay(stored: Document, fingerprint: str) -> tuple[int, Any]:
        if stored.get("fingerprint") != fingerprint:
            raise Problem(
                422, "Unprocessable Content", "this Idempotency-Key was used with another body"
            )
        if stored.get("state") != "done":
            raise Problem(409, "Conflict", "a request with this Idempotency-Key is in progress")
        return int(stored["status"]), stored["answer"]


def keep_requests(app: FastAPI, db: AsyncDatabase[Document], settings: ServiceSettings) -> None:
    """Where ``run_once`` finds the service's Idempotency-Key records."""
    app.state.requests = IdempotentRequests(
        db[IDEMPOTENCY_KEYS], lease_seconds=settings.idempotency_lease_seconds
    )


async def run_once(
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    action: Callable[[], Awaitable[tuple[int, BaseModel]]],
) -> JSONResponse:
    """Run a retryable write at most once per ``(caller, Idempotency-Key)``."""
    requests: IdempotentRequests = request.app.state.requests

    async def run() -> tuple[int, Any]:
        status, answer = await action()
        return status, answer.model_dump(mode="json")

    # The path too: a key reused on another endpoint is another body, not a replay.
    fingerprint = {"path": request.url.path, "body": body.model_dump(mode="json") if body else None}
    named = drivers_named(fingerprint["body"]) | drivers_named(dict(request.path_params))
    if principal.driver_id:
        named.add(principal.driver_id)
    status, answer = await requests.run(
        caller=principal.sub, key=key, body=fingerprint, action=run, driver_ids=sorted(named)
    )
    return JSONResponse(answer, status_code=status)


def drivers_named(value: Any, depth: int = 3) -> set[str]:
    """The ``driver_id`` values in a JSON body, a few levels deep (an answer's ``case``)."""
    found: set[str] = set()
    if depth <= 0:
        return found
    if isinstance(value, dict):
        for name, item in value.items():
            if name == "driver_id" and isinstance(item, str):
                found.add(item)
            else:
                found |= drivers_named(item, depth - 1)
    elif isinstance(value, list):
        for item in value[:100]:
            found |= drivers_named(item, depth - 1)
    return found
