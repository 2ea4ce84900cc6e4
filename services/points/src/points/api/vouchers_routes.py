"""Vouchers: the public keys (no token), a driver's voucher, counters' synced redemptions.

The keys need no token for the same reason as the statements' key: a counter app verifies
what it holds offline, and a public key reveals nothing. Counter staff (role ``station`` whose
``station_id`` is the counter) sync their own counter's scans; an operator with mall:manage
may sync on a counter's behalf; reading the recorded scans needs points:read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from common.auth import Principal, require_roles
from common.authz import require_scope
from common.problems import Problem
from common.schemas import Code, Instant, RequestModel
from points.api.mall_dependencies import MallDep, visible
from points.vouchers import Vouchers

router = APIRouter(prefix="/v1")


async def _vouchers(request: Request) -> Vouchers:
    vouchers: Vouchers = request.app.state.vouchers
    return vouchers


VouchersDep = Annotated[Vouchers, Depends(_vouchers)]
Counter = Annotated[Principal, Depends(require_scope("mall:manage", or_roles=("station",)))]
Reader = Annotated[Principal, Depends(require_scope("points:read"))]


class KeySet(BaseModel):
    keys: list[dict[str, Any]] = Field(
        description="Ed25519 public keys (JWK, OKP): kid, x, and not_after - a key verifies "
        "vouchers expiring no later than its not_after (null: the current signing key)"
    )


class VoucherView(BaseModel):
    redemption_id: str
    voucher: str = Field(description="Compact JWS (EdDSA) to show as a QR code")


class Scan(RequestModel):
    scan_id: Code = Field(min_length=1, max_length=64, description="Chosen by the counter")
    voucher: str = Field(min_length=20, max_length=2000)
    scanned_at: Instant


class SyncRequest(RequestModel):
    counter_id: Code = Field(min_length=1, max_length=64)
    items: list[Scan] = Field(min_length=1, max_length=500)


class ScanView(BaseModel):
    scan_id: str
    outcome: Literal["counted", "duplicate", "refused"]
    flagged: bool
    reason: str | None
    redemption_id: str | None


class SyncView(BaseModel):
    items: list[ScanView]


class RecordedScan(ScanView):
    counter_id: str
    synced_at: datetime
    synced_by: str


class ScanList(BaseModel):
    items: list[RecordedScan]


@router.get(
    "/vouchers/keys",
    response_model=KeySet,
    tags=["vouchers"],
    summary="The keys vouchers are signed with (no token needed; counters keep a copy)",
)
async def keys(vouchers: VouchersDep) -> KeySet:
    published = vouchers.keys.published(vouchers.now())
    return KeySet(keys=published["keys"])


@router.get(
    "/redemptions/{redemption_id}/voucher",
    response_model=VoucherView,
    tags=["vouchers"],
    summary="The signed voucher of a driver's own reserved counter reward (shown as a QR code)",
)
async def voucher(
    redemption_id: str,
    # The driver only: a voucher collects the reward at a counter (as the one-time code does),
    # so showing it to an operator who may read redemptions would let them collect it.
    principal: Annotated[Principal, Depends(require_roles("driver"))],
    mall: MallDep,
    vouchers: VouchersDep,
) -> VoucherView:
    redemption = await visible(mall, principal, redemption_id)
    return VoucherView(redemption_id=redemption_id, voucher=await vouchers.issue(redemption))


@router.post(
    "/vouchers/redemptions",
    response_model=SyncView,
    tags=["vouchers"],
    summary="A counter's queued voucher redemptions: the first scan of a voucher counts",
    description="Every scan is recorded once by (counter_id, scan_id): sending a batch again "
    "answers the same outcomes and changes nothing. A counted scan collects the reservation; "
    "a later scan of the same voucher is recorded as duplicate and flagged.",
)
async def sync(body: SyncRequest, principal: Counter, vouchers: VouchersDep) -> SyncView:
    if principal.role == "station" and principal.station_id != body.counter_id:
        raise Problem(403, "Forbidden", "counter staff sync only their own counter's scans")
    results = [
        await vouchers.redeem(
            body.counter_id, item.scan_id, item.voucher, item.scanned_at, by=principal.actor
        )
        for item in body.items
    ]
    return SyncView(items=[ScanView.model_validate(r, from_attributes=True) for r in results])


@router.get(
    "/vouchers/redemptions",
    response_model=ScanList,
    tags=["vouchers"],
    summary="Recorded voucher scans, newest first (flagged=true: duplicates and refusals)",
)
async def scans(
    _: Reader,
    vouchers: VouchersDep,
    flagged: bool | None = None,
    redemption_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ScanList:
    docs = await vouchers.scans_of(flagged=flagged, rid=redemption_id, limit=limit)
    return ScanList(items=[RecordedScan.model_validate(d) for d in docs])
