"""Rewriting stored personal values under the current PII keys (key rotation).

After an operator makes a new key current (the old one listed as retired), every value still
reads and is still found by hash; this job rewrites what names an old key (or none: values
written before key ids) so the retired key can then be dropped. It walks a collection by
``_id`` in batches and changes each value by a conditional update that names the old value, so
a value a request changed meanwhile is left to that request (which wrote the current key) and
nothing is lost under traffic. A pass that found nothing left to do is recorded with the key
ids it ran for, and later rounds skip the collection until the keys change again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from common.clock import Clock, utc_now
from common.lease import StoreLease
from common.logging import describe_error, get_logger
from common.periodic import Periodic
from common.pii import PiiProtector

log = get_logger(__name__)

Document = dict[str, Any]
STATE = "key_rotation"


@dataclass(frozen=True)
class StoredValue:
    """Where a protected value sits in a collection's documents.

    ``protected``: a subdocument ``{hash, enc, masked}`` (``partner_hashes`` too when
    ``partners``); ``sealed``: a subdocument ``{enc, ...}``; ``cipher``: a ciphertext string.
    With ``item``, ``path`` holds a list and each element's ``item`` is such a value.
    """

    path: str
    purpose: str
    kind: Literal["protected", "sealed", "cipher"] = "protected"
    partners: bool = False
    item: str | None = None


@dataclass(frozen=True)
class RotatedCollection:
    name: str
    values: Sequence[StoredValue]


def _at(doc: Document, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)  # type: ignore[assignment]
    return doc


class KeyRotation:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        collections: Sequence[RotatedCollection],
        pii: PiiProtector,
        *,
        batch_size: int,
        clock: Clock = utc_now,
        pause_seconds: float = 0.05,
        after_rewrite: Mapping[str, Callable[[Any], Awaitable[None]]] | None = None,
    ) -> None:
        self._db = db
        # Not copied: the service fills it while wiring, after the job is built.
        self._after_rewrite = after_rewrite if after_rewrite is not None else {}
        self._pause_seconds = pause_seconds
        self._collections = collections
        self._pii = pii
        self._batch_size = batch_size
        self._clock = clock

    async def run_once(self) -> dict[str, int]:
        """Rewrite every value under an old key; returns how many documents, per collection."""
        return {c.name: await self._collection(c) for c in self._collections}

    async def _collection(self, spec: RotatedCollection) -> int:
        state = self._db[STATE]
        done = await state.find_one({"_id": spec.name})
        if done is not None and done.get("keys") == self._pii.key_ids():
            return 0
        collection = self._db[spec.name]
        projection = {value.path: 1 for value in spec.values}
        rewritten, left, last = 0, 0, None
        while True:
            query: Document = {} if last is None else {"_id": {"$gt": last}}
            cursor = collection.find(query, projection).sort("_id", 1).limit(self._batch_size)
            docs = [doc async for doc in cursor]
            for doc in docs:
                changed, missed = await self._document(collection, spec, doc)
                rewritten += changed
                left += missed
            if len(docs) < self._batch_size:
                break
            last = docs[-1]["_id"]
            await asyncio.sleep(self._pause_seconds)  # let requests reach the store meanwhile
        if not left:
            await state.update_one(
                {"_id": spec.name},
                {"$set": {"keys": self._pii.key_ids(), "at": self._clock()}},
                upsert=True,
            )
        return rewritten

    async def _document(
        self, collection: AsyncCollection[Document], spec: RotatedCollection, doc: Document
    ) -> tuple[int, int]:
        """(1 if rewritten, 1 if it changed meanwhile and is left for the next round)."""
        condition: Document = {"_id": doc["_id"]}
        update: Document = {}
        for value in spec.values:
            stored = _at(doc, value.path)
            if value.item is not None:
                fresh_list = self._rewritten_list(value, stored)
                if fresh_list is not None:
                    condition[value.path] = stored  # the whole list, as read
                    update[value.path] = fresh_list
                continue
            fresh = self._rewritten(value, stored)
            if fresh is not None:
                # Every encryption draws a new nonce: the ciphertext names this very version.
                where = value.path if value.kind == "cipher" else f"{value.path}.enc"
                condition[where] = stored if value.kind == "cipher" else stored["enc"]
                update[value.path] = fresh
        if not update:
            return 0, 0
        result = await collection.update_one(condition, {"$set": update})
        if not result.modified_count:
            return 0, 1
        # What the service derives from these values (e.g. lookups keyed by a hash) follows them.
        rederive = self._after_rewrite.get(spec.name)
        if rederive is not None:
            await rederive(doc["_id"])
        return 1, 0

    def _rewritten(self, value: StoredValue, stored: Any) -> Any:
        """The value under the current keys, or None when it is current (or unreadable)."""
        try:
            if value.kind == "cipher":
                return self._cipher(value, stored) if stored else None
            # A subdocument without a ciphertext (a partner's hash alone) cannot be recomputed.
            return self._subdocument(value, stored) if stored and stored.get("enc") else None
        except ValueError as exc:  # a key retired too early: say so, never drop the value
            log.warning("value not rotated", purpose=value.purpose, error=describe_error(exc))
            return None

    def _rewritten_list(self, value: StoredValue, stored: Any) -> list[Any] | None:
        """The list with each element's value under the current keys, or None if all are."""
        if not isinstance(stored, list) or value.item is None:
            return None
        element = StoredValue(value.item, value.purpose, value.kind, value.partners)
        fresh = [self._rewritten(element, each.get(value.item)) for each in stored]
        if not any(f is not None for f in fresh):
            return None
        return [
            each if f is None else {**each, value.item: f}
            for each, f in zip(stored, fresh, strict=True)
        ]

    def _cipher(self, value: StoredValue, stored: str) -> str | None:
        if self._pii.is_current(stored):
            return None
        return self._pii.encrypt(value.purpose, self._pii.decrypt(value.purpose, stored))

    def _subdocument(self, value: StoredValue, stored: Document) -> Document | None:
        pii = self._pii
        plain = pii.decrypt(value.purpose, stored["enc"])
        fresh = {**stored, "enc": pii.encrypt(value.purpose, plain)}
        if value.kind == "protected":
            fresh["hash"] = pii.hash(value.purpose, plain)
        if value.partners:
            fresh["partner_hashes"] = pii.partner_hashes(value.purpose, plain)
        current = pii.is_current(stored["enc"]) and pii.is_current(stored.get("hash"))
        if current and fresh.get("partner_hashes") == stored.get("partner_hashes"):
            return None
        return fresh


def rotation_job(
    db: AsyncDatabase[Document],
    collections: Sequence[RotatedCollection],
    pii: PiiProtector,
    *,
    service: str,
    every_seconds: float,
    batch_size: int,
    after_rewrite: Mapping[str, Callable[[Any], Awaitable[None]]] | None = None,
) -> tuple[KeyRotation, Periodic]:
    """The rotation and its periodic loop (one replica at a time, by a lease)."""
    rotation = KeyRotation(db, collections, pii, batch_size=batch_size, after_rewrite=after_rewrite)
    ttl = timedelta(seconds=max(60.0, every_seconds * 3))
    lease = StoreLease(db, f"{service}-key-rotation", ttl=ttl)
    # The first round one interval after start-up, not in the middle of it.
    loop = Periodic(
        f"{service}-key-rotation",
        every_seconds,
        rotation.run_once,
        lease=lease,
        first_after=every_seconds,
    )
    return rotation, loop
