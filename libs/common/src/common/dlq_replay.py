"""Replaying a dead letter to its original topic, once, and showing one without personal data.

The replay ledger (collection ``dlq_replays``, one document per DLQ record, ``_id`` =
``<dlq topic>:<partition>:<offset>``) is both the replay-once guard and the audit: who replayed
which record, why, when it was published and under which replay id. A second request for the
same record publishes nothing and answers the first replay.

A claim is written before publishing and marked ``published`` after; a request that finds a
claim still publishing answers 409, unless the claim is older than :data:`CLAIM_SECONDS` (its
process died between the claim and the mark), when it publishes again under the same replay id:
at least once, and consumers dedupe by ``(source, id)`` as for any redelivery.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from common.auth import Principal
from common.bus import CORRELATION_HEADER
from common.clock import Clock, utc_now
from common.dead_letters import DeadLetterRecord
from common.logging import get_logger, scrub
from common.mongo import Indexes, insert_once
from common.pii import mask_national_id, mask_phone
from common.problems import Problem

log = get_logger(__name__)

Document = dict[str, Any]
REPLAYS = "dlq_replays"
INDEXES = Indexes(
    REPLAYS,
    (
        IndexModel([("requested_at", -1), ("_id", -1)]),
        IndexModel([("topic", 1), ("requested_at", -1), ("_id", -1)]),  # one DLQ topic's
    ),
)
CLAIM_SECONDS = 60.0
REPLAY_ID_HEADER = "dlq-replay-id"
REPLAYED_BY_HEADER = "dlq-replayed-by"
MAX_TEXT = 4000
# How deep a payload is shown (an event of ours nests a few levels); below it, DEEPER.
MAX_DEPTH = 32
DEEPER = "…"

# Keys whose values are personal data wherever a payload carries them (partners' free-form data
# included); every other string is scrubbed of anything shaped like a phone or ID number.
_PHONE_KEYS = frozenset({"phone", "mobile", "contact_phone", "telephone", "tel"})
_ID_KEYS = frozenset({"national_id", "id_number", "id_card", "idcard"})
# Shorter values keep too little hidden between a mask's shown ends: all hidden instead.
_MASKABLE = 9
_NAME_KEYS = frozenset({"name", "full_name", "driver_name", "contact_name", "contact"})
# A position is personal data (a location track): shown to about a kilometre, as a declared
# base is kept (two decimals).
_POSITION_KEYS = frozenset({"lat", "lng", "lon", "latitude", "longitude"})


def _mask_value(key: str | None, value: str) -> str:
    name = (key or "").lower()
    if name in _PHONE_KEYS:
        return mask_phone(value) if len(value) >= _MASKABLE else "***"
    if name in _ID_KEYS:
        return mask_national_id(value) if len(value) >= _MASKABLE else "***"
    if name in _NAME_KEYS:
        return value[:1] + "*" * max(1, len(value) - 1)
    return scrub(value)


def _masked(value: Any, key: str | None = None, depth: int = 0) -> Any:
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        # A partner's payload nested deeper than any event of ours: shown cut, not read on.
        return DEEPER
    if isinstance(value, dict):
        # A key can carry a number too (a partner's map keyed by phone).
        return {scrub(k): _masked(v, k, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key, depth + 1) for v in value]
    if isinstance(value, str):
        return _mask_value(key, value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _masked_number(key, value)
    return value


def _masked_number(key: str | None, value: float) -> Any:
    if (key or "").lower() in _POSITION_KEYS:
        return round(value, 2)
    # A phone or ID number sent as a JSON number is masked as its text would be; any other
    # number stays a number.
    text = str(value)
    shown = _mask_value(key, text)
    return value if shown == text else shown


def masked_payload(raw: bytes) -> tuple[Any, str | None]:
    """(JSON with personal data masked, None) or (None, masked text) for a non-JSON payload."""
    try:
        return _masked(json.loads(raw)), None
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser takes
        return None, scrub(raw.decode(errors="replace"))[:MAX_TEXT]


class ReplayView(BaseModel):
    """A replay as the ledger keeps it (the audit record)."""

    replay_id: str
    topic: str
    partition: int
    offset: int
    original_topic: str
    by: str
    role: str
    reason: str
    requested_at: datetime
    state: Literal["publishing", "published"]
    published_at: datetime | None = None


def replay_headers(record: DeadLetterRecord, replay_id: str, by: str) -> dict[str, str]:
    """The original record's correlation id, no ``dlq-*`` header, and who replayed it."""
    # The DLQ record's other headers are the dead-lettering publisher's (content type,
    # producer), which the replaying publisher sets again as its own.
    correlation = record.headers.get(CORRELATION_HEADER)
    kept = {CORRELATION_HEADER: correlation} if correlation else {}
    return {**kept, REPLAY_ID_HEADER: replay_id, REPLAYED_BY_HEADER: by}


class ReplayLedger:
    def __init__(self, collection: AsyncCollection[Document], clock: Clock = utc_now) -> None:
        self._collection = collection
        self._clock = clock

    async def get(self, record: DeadLetterRecord) -> ReplayView | None:
        doc = await self._collection.find_one({"_id": _key(record)})
        return None if doc is None else ReplayView.model_validate(doc)

    async def listing(
        self, *, before: tuple[datetime, str] | None, limit: int, topic: str | None = None
    ) -> list[Document]:
        query: Document = {} if topic is None else {"topic": topic}
        if before is not None:
            at, key = before
            query["$or"] = [
                {"requested_at": {"$lt": at}},
                {"requested_at": at, "_id": {"$lt": key}},
            ]
        cursor = self._collection.find(query).sort([("requested_at", -1), ("_id", -1)]).limit(limit)
        return [doc async for doc in cursor]

    async def replay(
        self,
        record: DeadLetterRecord,
        *,
        original_topic: str,
        principal: Principal,
        reason: str,
        publish: Callable[[str], Awaitable[None]],
    ) -> tuple[ReplayView, bool]:
        """(the replay, whether this call published it); ``publish`` gets the replay id."""
        now = self._clock()
        claim: Document = {
            "_id": _key(record),
            "replay_id": f"rpl_{uuid.uuid4().hex}",
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "original_topic": original_topic,
            "by": principal.sub,
            "role": principal.role,
            "reason": reason,
            "requested_at": now,
            "state": "publishing",
        }
        if not await insert_once(self._collection, claim):
            stale = await self._collection.find_one_and_update(
                {
                    "_id": claim["_id"],
                    "state": "publishing",
                    "requested_at": {"$lt": now - timedelta(seconds=CLAIM_SECONDS)},
                },
                {"$set": {"requested_at": now}},
                return_document=ReturnDocument.AFTER,
            )
            if stale is None:
                existing = await self._collection.find_one({"_id": claim["_id"]})
                if existing is None or existing["state"] != "published":
                    raise Problem(409, "Conflict", "this record is being replayed right now")
                return ReplayView.model_validate(existing), False
            claim = stale
        try:
            await publish(claim["replay_id"])
        except Exception:
            # Nothing was published (or it is unknown): let the operator try again.
            await self._collection.delete_one({"_id": claim["_id"], "state": "publishing"})
            raise
        done = await self._collection.find_one_and_update(
            {"_id": claim["_id"]},
            {"$set": {"state": "published", "published_at": self._clock()}},
            return_document=ReturnDocument.AFTER,
        )
        view = ReplayView.model_validate(done or claim)
        log.info(
            "dead letter replayed",
            topic=view.topic,
            partition=view.partition,
            offset=view.offset,
            original_topic=view.original_topic,
            replay_id=view.replay_id,
            by=view.by,
        )
        return view, True


def _key(record: DeadLetterRecord) -> str:
    return f"{record.topic}:{record.partition}:{record.offset}"
