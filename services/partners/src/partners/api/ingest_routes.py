"""``POST /v1/events``: partners without Kafka send CloudEvents over HTTP."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from common.problems import Problem
from partners.api.dependencies import PartnerRole, PartnersDep, own_account, require_scope
from partners.api.schemas import AcceptedView, BatchView
from partners.domain import EventRefused
from partners.settings import PartnersSettings

router = APIRouter(tags=["ingest"])

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"

_ENVELOPE_REF = {
    "type": "object",
    "description": "A CloudEvents 1.0 event in structured mode (docs/events.md)",
    "required": ["id", "type", "subject", "time", "data"],
}
# A batch's items are checked one by one: an item that is not a valid event (not even an
# object) is refused in its own result (422) without refusing the batch, which is answered 207.
_BATCH_REF = {
    "type": "array",
    "minItems": 1,
    "description": "Events, each checked on its own (a CloudEvents 1.0 event in structured mode)",
    "items": {"description": _ENVELOPE_REF["description"]},
}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Content Too Large", f"the body may be at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise Problem(413, "Content Too Large", f"the body may be at most {limit} bytes")
    return bytes(body)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constants)
    except ValueError as exc:
        raise EventRefused("malformed_envelope", "<root>: the body is not JSON") from exc
    except RecursionError as exc:  # nested past what the parser takes
        raise EventRefused("malformed_envelope", "<root>: the body nests too deeply") from exc


@router.post(
    "/v1/events",
    status_code=202,
    summary="Send one event (application/cloudevents+json) or a batch "
    "(application/cloudevents-batch+json)",
    description=(
        "Each event is validated as the consumers would validate it before it is accepted; "
        "`source` is set to the caller's own `partner/<partner_id>`. A single event is answered "
        "202 once it is on the partner's topic (acks=all), 422 with the `reason` when refused, "
        "409 when its `(source, id)` came before with another payload; sending it again with "
        "the same payload answers as the first time. A batch is answered 207 with one result "
        "per event. 413 for a body or batch too large, 429 with `Retry-After` when the "
        "partner's rate limit or daily quota is used up, 403 for a suspended partner."
    ),
    responses={
        202: {"model": AcceptedView, "description": "Accepted (single event)"},
        207: {"model": BatchView, "description": "One result per event (batch)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                SINGLE: {"schema": _ENVELOPE_REF},
                BATCH: {"schema": _BATCH_REF},
            },
        }
    },
)
async def send_events(request: Request, partners: PartnersDep, principal: PartnerRole) -> Any:
    partner_id = require_scope(principal, "events:write")
    partner = await own_account(partners, partner_id)
    settings: PartnersSettings = request.app.state.settings
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in (SINGLE, BATCH):
        raise Problem(415, "Unsupported Media Type", f"send {SINGLE} or {BATCH}")
    submitted = _parse(await _read_body(request, settings.ingest_max_body_bytes))
    if media == SINGLE:
        await partners.ingest.admit(partner, 1)
        event = partners.ingest.validate(partner, submitted)
        return JSONResponse(await partners.ingest.accept(partner, event), status_code=202)
    if not isinstance(submitted, list) or not submitted:
        raise EventRefused("malformed_batch", "<root>: a batch is a non-empty JSON array")
    if len(submitted) > settings.ingest_max_batch:
        raise Problem(
            413,
            "Content Too Large",
            f"a batch may hold at most {settings.ingest_max_batch} events",
        )
    await partners.ingest.admit(partner, len(submitted))
    outcomes = await partners.ingest.submit(partner, submitted)
    results = [
        {
            "index": index,
            "id": o.event_id,
            "status": o.status,
            "reason": o.reason,
            "detail": o.detail,
            "receipt": o.receipt["receipt"] if o.receipt else None,
        }
        for index, o in enumerate(outcomes)
    ]
    accepted = sum(1 for o in outcomes if o.status == HTTPStatus.ACCEPTED)
    answer = BatchView.model_validate(
        {"accepted": accepted, "refused": len(outcomes) - accepted, "results": results}
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=207)
