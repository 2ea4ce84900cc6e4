"""Operations: every service's dead-letter queues and consumer lag (``common.dlq_api``), a DLQ
topic's records with their reasons and masked payloads, and replaying one to its original topic
(``dlq:replay``, the operations role). The services decide and audit; the console only asks.

A queue is listed by the consuming service, but a record is replayed by the service that owns
(writes) its original topic (``common.topic_owners``: one writer per domain topic), which keeps
the replay ledger: the Replay button posts to the owner, and the page shows the owner's replays
of the topic's records."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from common.dlq import DLQ_SUFFIX
from common.topic_owners import topic_owner
from console.apis import Api, ApiError, Service, new_idempotency_key, quoted
from console.i18n import translate
from console.web import CurrentPerson, PersonApi, check_csrf, language, redirect, render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

SERVICES: tuple[Service, ...] = get_args(Service)
TOPIC = re.compile(r"^[a-z0-9][a-z0-9.-]{0,199}\.dlq$")
# common.dlq_replay's replay ids ("rpl_" + a uuid4's hex): the page's ?replayed= is shown only
# in that form, so a crafted link cannot put its own sentence on the page as a notice.
REPLAY_ID = re.compile(r"rpl_[0-9a-f]{32}")
Reason = Annotated[str, Form(min_length=1, max_length=500)]
REPLAYS = "/v1/dlq/replays"


async def _each(api: Api, path: str) -> dict[str, Any]:
    """Every service's answer to the same path, asked at once; None where refused or down."""
    answers = await asyncio.gather(*(api.maybe(s, path) for s in SERVICES))
    return dict(zip(SERVICES, answers, strict=True))


async def dlq_figures(api: Api) -> dict[str, Any]:
    """For the home page: records per DLQ topic (non-empty ones) and lag per consumer group."""
    queues, lags = await asyncio.gather(_each(api, "/v1/dlq"), _each(api, "/v1/consumers/lag"))
    topics = [
        {"service": s, **t}
        for s, answer in queues.items()
        if answer is not None
        for t in answer["topics"]
        if t["records"]
    ]
    groups = [
        {"service": s, "group": g["group"], "lag": g["lag"]}
        for s, answer in lags.items()
        if answer is not None
        for g in answer["groups"]
    ]
    reached = sum(answer is not None for answer in queues.values())
    return {"topics": topics, "groups": groups, "reached": reached}


def _service(name: str, topic: str) -> Service | None:
    return name if name in SERVICES and TOPIC.match(topic) else None


def _owner(topic: str) -> Service | None:
    """The service that replays the records of a DLQ topic (the one writing its original)."""
    owner = topic_owner(topic.removesuffix(DLQ_SUFFIX))
    return next((s for s in SERVICES if s == owner), None)


async def _owners_replays(api: Api, topic: str) -> dict[tuple[int, int], Any]:
    """The owner's replays of this DLQ topic's records by (partition, offset); none if it is
    not reachable (the page then offers the form, and the owner answers a second replay with
    the first)."""
    owner = _owner(topic)
    answer = None if owner is None else await api.maybe(owner, REPLAYS, topic=topic, limit=200)
    items = answer["items"] if answer is not None else []
    return {(r["partition"], r["offset"]): r for r in items}


@router.get("/dlq")
async def queues(request: Request, person: CurrentPerson, api: PersonApi) -> Response:
    answers, lags = await asyncio.gather(_each(api, "/v1/dlq"), _each(api, "/v1/consumers/lag"))
    return render(request, "dlq.html", person=person, services=answers, lags=lags)


def _shown(item: dict[str, Any]) -> str:
    """The masked payload as the page shows it: indented JSON, or the masked text."""
    if item.get("payload") is not None:
        return json.dumps(item["payload"], ensure_ascii=False, indent=2)
    return str(item.get("payload_text") or "")


@router.get("/dlq/{service}/{topic}")
async def queue(
    request: Request, person: CurrentPerson, api: PersonApi, service: str, topic: str
) -> Response:
    known = _service(service, topic)
    if known is None:
        return render(request, "error.html", status=404, person=person, error="no such queue")
    cursor = request.query_params.get("cursor") or None
    try:
        page, replays = await asyncio.gather(
            api.get(known, f"/v1/dlq/{quoted(topic)}/records", limit=50, cursor=cursor),
            _owners_replays(api, topic),
        )
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    replayed = request.query_params.get("replayed") or ""
    notice = None
    if REPLAY_ID.fullmatch(replayed):
        notice = translate(language(request), "dlq.replayed", id=replayed)
    return render(
        request,
        "dlq_topic.html",
        person=person,
        service=service,
        topic=topic,
        # One Idempotency-Key per record's form: a key names one request, not one page.
        items=[
            {
                **item,
                "replay": item.get("replay") or replays.get((item["partition"], item["offset"])),
                "shown": _shown(item),
                "form_key": new_idempotency_key(),
            }
            for item in page["items"]
        ],
        next_cursor=page.get("next_cursor"),
        notice=notice,
    )


@router.post("/dlq/{service}/{topic}/{partition}/{offset}/replay")
async def replay(
    request: Request,
    person: CurrentPerson,
    api: PersonApi,
    service: str,
    topic: str,
    partition: int,
    offset: int,
    reason: Reason,
    key: Annotated[str, Form(pattern=r"^[0-9a-f]{32}$")],
) -> Response:
    owner = _owner(topic) if _service(service, topic) is not None else None
    if owner is None:
        return render(request, "error.html", status=404, person=person, error="no such queue")
    path = f"/v1/dlq/{quoted(topic)}/records/{partition}/{offset}/replay"
    try:
        # The owner of the original topic replays it, whichever consumer listed the record.
        done = await api.post(owner, path, {"reason": reason}, idempotency_key=key)
    except ApiError as exc:
        return render(request, "error.html", status=exc.status, person=person, error=exc.detail)
    replayed = quoted(done["replay_id"])
    return redirect(f"/dlq/{quoted(service)}/{quoted(topic)}?replayed={replayed}")
