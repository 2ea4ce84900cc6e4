"""``Idempotency-Key`` for writes that clients may retry (handbook section 4).

The first request with a key stores its answer; a retry with the same key and the same body
gets the stored answer, a retry with a different body gets 422. Keys are scoped per caller.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from common.mongo import Indexes, is_duplicate_key
from common.problems import Problem

Document = dict[str, Any]
IDEMPOTENCY_KEYS = "idempotency_keys"


def idempotency_indexes(name: str = IDEMPOTENCY_KEYS) -> Indexes:
    return Indexes(name, (IndexModel([("created_at", 1)], name="created_at"),))


def _fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotentRequests:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def run(
        self,
        *,
        caller: str,
        key: str | None,
        body: Any,
        action: Callable[[], Awaitable[tuple[int, Any]]],
    ) -> tuple[int, Any]:
        """Run ``action`` once per ``(caller, key)``; returns ``(status, json body)``."""
        if key is None:
            return await action()
        if not 1 <= len(key) <= 200:
            raise Problem(400, "Bad Request", "Idempotency-Key must be 1-200 characters")
        doc_id = f"{caller}\x1f{key}"
        fingerprint = _fingerprint(body)
        stored = await self._collection.find_one({"_id": doc_id})
        if stored is not None:
            return self._replay(stored, fingerprint)
        try:
            await self._collection.insert_one(
                {
                    "_id": doc_id,
                    "fingerprint": fingerprint,
                    "state": "running",
                    "created_at": datetime.now(UTC),
                }
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            stored = await self._collection.find_one({"_id": doc_id})
            return self._replay(stored or {}, fingerprint)
        try:
            status, answer = await action()
        except BaseException:
            # Nothing was answered: let the client retry with the same key.
            await self._collection.delete_one({"_id": doc_id, "state": "running"})
            raise
        await self._collection.update_one(
            {"_id": doc_id},
            {"$set": {"state": "done", "status": status, "answer": answer}},
        )
        return status, answer

    @staticmethod
    def _replay(stored: Document, fingerprint: str) -> tuple[int, Any]:
        if stored.get("fingerprint") != fingerprint:
            raise Problem(
                422, "Unprocessable Content", "this Idempotency-Key was used with another body"
            )
        if stored.get("state") != "done":
            raise Problem(409, "Conflict", "a request with this Idempotency-Key is in progress")
        return int(stored["status"]), stored["answer"]
