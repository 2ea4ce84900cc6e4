"""HTTP for a service's dead letters and consumer lag, the same in every service (issue 18).

- ``GET /v1/dlq``: the service's DLQ topics (the ``.dlq`` twins of what it consumes) with the
  number of records its own consumer groups dead-lettered there.
- ``GET /v1/dlq/{topic}/records``: those records, a page at a time, with their ``dlq-*`` reasons
  and the payload with personal data masked (``common.dlq_replay.masked_payload``).
- ``POST /v1/dlq/{topic}/records/{partition}/{offset}/replay``: republish the original bytes to
  the original topic, once per record (``common.dlq_replay``), with a reason; audited. Served
  by the topic's owner, the one service that writes it (``common.topic_owners``), for whichever
  consumer dead-lettered the record: the consumer has no write grant there (one writer per
  domain topic), so it answers 409 ``replay-by-owner`` naming the ``owner`` to ask.
- ``GET /v1/dlq/replays``: the replay audit, newest first (``?topic=`` one DLQ topic's).
- ``GET /v1/consumers/lag``: the service's consumer groups, committed offset against the end of
  each partition.

Reading needs ``dlq:read`` and replaying ``dlq:replay`` (the ``operations`` role). A topic that is
not one of the service's DLQ topics, or a record another service dead-lettered, answers 404 to
reading; the owner replays any record on its own topics' DLQ twins.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints

from common.auth import Principal
from common.authz import require_scope
from common.dead_letters import DeadLetterRecord, DeadLetters, lag_total
from common.dlq import DLQ_SUFFIX
from common.dlq_replay import REPLAYS, ReplayLedger, ReplayView, masked_payload, replay_headers
from common.logging import scrub
from common.pagination import AfterTime, PageQuery, Position
from common.problems import Problem
from common.requests import IdempotencyKey, run_once
from common.runtime import Runtime
from common.schemas import RequestModel, Text
from common.topic_owners import topic_owner
from common.topics import COMPACTED_TOPICS

Reader = Annotated[Principal, Depends(require_scope("dlq:read"))]
Replayer = Annotated[Principal, Depends(require_scope("dlq:replay"))]
DLQ_NAME = r"^[a-z0-9][a-z0-9.-]{0,199}$"
TopicName = Annotated[str, Path(pattern=DLQ_NAME)]
Reason = Annotated[Text, StringConstraints(min_length=1, max_length=500)]


class DlqTopic(BaseModel):
    topic: str
    original_topic: str
    records: int
    complete: bool


class DlqTopics(BaseModel):
    service: str
    topics: list[DlqTopic]


class DeadLetterView(BaseModel):
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: str
    reason: str | None
    error: str | None
    consumer_group: str | None
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    dead_lettered_at: str | None
    payload: Any
    payload_text: str | None
    replay: ReplayView | None


class DeadLetterPage(BaseModel):
    topic: str
    items: list[DeadLetterView]
    next_cursor: str | None


class ReplayPage(BaseModel):
    items: list[ReplayView]
    next_cursor: str | None


class ReplayIn(RequestModel):
    reason: Reason


class ReplayOut(ReplayView):
    published_now: bool


class PartitionLagView(BaseModel):
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int


class GroupLag(BaseModel):
    group: str
    lag: int
    partitions: list[PartitionLagView]


class ConsumerLag(BaseModel):
    service: str
    groups: list[GroupLag]


class AfterRecord(Position):
    partition: int
    offset: int


class DlqParts:
    """The service's dead letters, its replay ledger and its publisher (from its runtime)."""

    def __init__(self, runtime: Runtime) -> None:
        self.settings = runtime.settings
        self.letters = runtime.dead_letters or DeadLetters(runtime.settings, runtime.consumers)
        self.ledger = ReplayLedger(runtime.db[REPLAYS])
        self.publisher = runtime.publisher

    async def topic(self, logical: str) -> str:
        physical = await self.letters.physical(logical)
        if physical is None:
            raise Problem(404, "Not Found", f"{logical} is not one of this service's DLQ topics")
        return physical

    async def record(self, logical: str, partition: int, offset: int) -> DeadLetterRecord:
        found = await self.letters.record(await self.topic(logical), partition, offset)
        if found is None:
            raise Problem(404, "Not Found", "no dead letter of this service at that place")
        return found

    async def owned_record(self, logical: str, partition: int, offset: int) -> DeadLetterRecord:
        """A record on the DLQ twin of a topic this service owns, whoever dead-lettered it."""
        physical = self.settings.topic(logical)
        found = None
        if await self.letters.exists(physical):
            found = await self.letters.record(physical, partition, offset, anyones=True)
        if found is None:
            raise Problem(404, "Not Found", "no dead letter at that place")
        return found

    async def check_original(self, record: DeadLetterRecord, physical_original: str) -> bytes:
        """The key of the original record the dead letter carries, after checking the bytes.

        Every consumer of a topic may write its ``.dlq`` twin (its own dead letters), so a
        record there is not the owner's word: replayed unchecked, a compromised consumer's
        forgery would reach the topic under its owner's name. So the owner republishes only
        what stands at the place the record names on its own topic."""
        partition = _int(record.headers.get("dlq-original-partition"))
        offset = _int(record.headers.get("dlq-original-offset"))
        original = None
        if partition is not None and offset is not None and partition >= 0 and offset >= 0:
            original = await self.letters.record(physical_original, partition, offset, anyones=True)
        if original is None or not _same_content(original.value, record.value):
            raise Problem(
                409,
                "Conflict",
                "the dead letter is not the record at the place it names on its original topic "
                "(or that record is gone): it is not replayed",
                type_="not-the-original",
                extra={"code": "not-the-original"},
            )
        return original.key

    def check_owner(self, logical: str) -> str:
        """The original topic of a DLQ topic this service may replay to; else 404 or 409."""
        original = logical.removesuffix(DLQ_SUFFIX)
        if original == logical:
            raise Problem(404, "Not Found", f"{logical} is no DLQ topic")
        owner = topic_owner(original)
        if owner != self.settings.service_name:
            # Writing there would be a second writer of another service's topic (and the
            # broker refuses it): its owner replays, for every consumer of the topic.
            raise Problem(
                409,
                "Conflict",
                f"{original} is written by the {owner} service: ask it to replay this record",
                type_="replay-by-owner",
                extra={"code": "replay-by-owner", "owner": owner},
            )
        if original in COMPACTED_TOPICS:
            # The last record per key is the state: an old one replayed would become the current.
            raise Problem(409, "Conflict", f"{original} keeps states, which are never replayed")
        return original


async def _parts(request: Request) -> DlqParts:
    # Per request from the running runtime (its Kafka clients live there): an app started
    # again gets its new runtime's, never a stopped one's.
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise Problem(503, "Service Unavailable", "the service is starting")
    return DlqParts(runtime)


Parts = Annotated[DlqParts, Depends(_parts)]


def _same_content(original: bytes, letter: bytes) -> bool:
    """The same bytes, or the same JSON: a consumer that kept an event (points' held events)
    dead-letters it as it serialised it, whitespace and key order its own."""
    if original == letter:
        return True
    try:
        return bool(json.loads(original) == json.loads(letter))
    except ValueError:
        return False


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def _view(record: DeadLetterRecord, replay: ReplayView | None, prefix: str) -> DeadLetterView:
    h = record.headers
    payload, text = masked_payload(record.value)
    original = h.get("dlq-original-topic")
    return DeadLetterView(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        # The key is the writer's choice too (a partner writing to Kafka keys as it likes).
        key=scrub(record.key.decode(errors="replace")),
        reason=h.get("dlq-reason"),
        error=h.get("dlq-error"),
        consumer_group=h.get("dlq-consumer-group"),
        original_topic=original.removeprefix(prefix) if original else None,
        original_partition=_int(h.get("dlq-original-partition")),
        original_offset=_int(h.get("dlq-original-offset")),
        dead_lettered_at=h.get("dlq-time"),
        payload=payload,
        payload_text=text,
        replay=replay,
    )


router = APIRouter(prefix="/v1", tags=["dead letters (operations)"])


@router.get("/dlq", response_model=DlqTopics, summary="This service's DLQ topics and counts")
async def dlq_topics(principal: Reader, parts: Parts) -> DlqTopics:
    out = []
    for physical, scan in (await parts.letters.counts()).items():
        logical = parts.letters.logical(physical)
        out.append(
            DlqTopic(
                topic=logical,
                original_topic=logical.removesuffix(DLQ_SUFFIX),
                records=scan.count,
                complete=scan.complete,
            )
        )
    return DlqTopics(service=parts.settings.service_name, topics=out)


@router.get("/dlq/replays", response_model=ReplayPage, summary="Replays, newest first (the audit)")
async def replays(
    principal: Reader,
    parts: Parts,
    page: PageQuery,
    topic: Annotated[str | None, Query(pattern=DLQ_NAME, description="one DLQ topic's")] = None,
) -> ReplayPage:
    position = page.after(AfterTime)
    before = (position.at, position.id) if position is not None else None
    docs = await parts.ledger.listing(before=before, limit=page.limit, topic=topic)
    last = AfterTime(at=docs[-1]["requested_at"], id=docs[-1]["_id"]) if docs else None
    return ReplayPage(
        items=[ReplayView.model_validate(d) for d in docs],
        next_cursor=page.next_if_full(len(docs), last),
    )


@router.get(
    "/dlq/{topic}/records",
    response_model=DeadLetterPage,
    summary="This service's dead letters on one DLQ topic, payload masked",
)
async def dlq_records(
    topic: TopicName, principal: Reader, parts: Parts, page: PageQuery
) -> DeadLetterPage:
    physical = await parts.topic(topic)
    after = page.after(AfterRecord)
    scan = await parts.letters.scan(
        physical,
        after=(after.partition, after.offset) if after is not None else None,
        limit=page.limit,
    )
    items = [_view(r, await parts.ledger.get(r), parts.settings.topic_prefix) for r in scan.records]
    position = scan.next_position
    cursor = page.next(AfterRecord(partition=position[0], offset=position[1])) if position else None
    return DeadLetterPage(topic=topic, items=items, next_cursor=cursor)


@router.post(
    "/dlq/{topic}/records/{partition}/{offset}/replay",
    response_model=ReplayOut,
    summary="Replay a dead letter to its original topic, a topic this service writes, once (a "
    "second request publishes nothing and answers the first replay); audited. Asked of a "
    "consumer of another service's topic: 409 replay-by-owner naming the owner",
)
async def replay(
    request: Request,
    *,
    topic: TopicName,
    partition: Annotated[int, Path(ge=0, le=100_000)],
    offset: Annotated[int, Path(ge=0)],
    body: ReplayIn,
    principal: Replayer,
    parts: Parts,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    original = parts.check_owner(topic)
    record = await parts.owned_record(topic, partition, offset)
    physical_original = parts.settings.topic(original)
    # The header is data; only the topic this DLQ is the twin of may receive its records.
    if record.headers.get("dlq-original-topic") != physical_original:
        raise Problem(409, "Conflict", "the record names another original topic than its DLQ's")
    key = await parts.check_original(record, physical_original)

    async def publish(replay_id: str) -> None:
        await parts.publisher.publish_raw(
            physical_original,
            key.decode(errors="replace"),
            record.value,
            replay_headers(record, replay_id, principal.sub),
        )

    async def act() -> tuple[int, ReplayOut]:
        view, now = await parts.ledger.replay(
            record,
            original_topic=original,
            principal=principal,
            reason=body.reason,
            publish=publish,
        )
        return 200, ReplayOut(**view.model_dump(), published_now=now)

    if getattr(request.app.state, "requests", None) is None:
        # A service without Idempotency-Key records: the replay ledger alone answers a retry.
        status, out = await act()
        return JSONResponse(out.model_dump(mode="json"), status_code=status)
    return await run_once(request, principal, idempotency_key, body, act)


@router.get(
    "/consumers/lag",
    response_model=ConsumerLag,
    summary="This service's consumer groups: committed offsets against each partition's end",
)
async def consumer_lag(principal: Reader, parts: Parts) -> ConsumerLag:
    groups = []
    for group, partitions in (await parts.letters.lag()).items():
        groups.append(
            GroupLag(
                group=group.removeprefix(parts.settings.topic_prefix),
                lag=lag_total(partitions),
                partitions=[
                    PartitionLagView(
                        topic=p.topic,
                        partition=p.partition,
                        committed=p.committed,
                        end=p.end,
                        lag=max(0, p.lag),
                    )
                    for p in partitions
                ],
            )
        )
    return ConsumerLag(service=parts.settings.service_name, groups=groups)
