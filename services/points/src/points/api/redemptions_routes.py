"""Redemptions: reserve, list, read, fulfil at a counter or shipped, cancel, a new code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from common.approvals import Approvals, Proposal
from common.approvals_api import ACCEPTED, propose
from common.auth import Principal, require_roles
from common.authz import require_scope
from common.pagination import AfterTime, PageQuery
from common.problems import Problem
from points.api.mall_dependencies import (
    DriverOrMallManager,
    DriverOrReader,
    MallDep,
    own_driver,
    visible,
)
from points.api.mall_schemas import (
    CancelRequest,
    CodeView,
    FulfilRequest,
    RedemptionPage,
    RedemptionView,
    ReservationView,
    ReserveRequest,
)
from points.four_eyes import REDEMPTION
from points.vouchers import Vouchers

router = APIRouter(prefix="/v1")


# redemptions ----------------------------------------------------------------------------------
@router.post(
    "/redemptions",
    status_code=201,
    response_model=ReservationView,
    tags=["mall"],
    summary="Reserve a reward: its points and a unit of stock are taken, or nothing is",
    responses={
        200: {
            "description": "Retried with the same Idempotency-Key: the same redemption, "
            "with a new code (the earlier one stops working)"
        },
        409: {"description": "Out of stock, insufficient points or the account is not active"},
        **ACCEPTED,
    },
    description="A driver reserves for themselves. An operator's reservation for a driver "
    "answers 202 with a pending approval request: nothing is taken until the driver confirms "
    "it with their own token (POST /v1/approvals/{approval_id}/approve) or refuses it.",
)
async def reserve(
    body: ReserveRequest,
    request: Request,
    response: Response,
    principal: DriverOrMallManager,
    mall: MallDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> ReservationView | JSONResponse:
    driver_id = own_driver(principal, body.driver_id)
    if principal.role != "driver":  # never spend a driver's points without them
        approvals: Approvals = request.app.state.approvals
        proposal = Proposal(
            area=REDEMPTION,
            command={"driver_id": driver_id, **body.model_dump(mode="json", exclude={"driver_id"})},
            reason="reserved by an operator for the driver",
            summary=f"reserve reward {body.reward_id} for {driver_id}",
            subject=driver_id,
            request_key=idempotency_key,
        )
        return await propose(approvals, proposal, principal)
    reservation = await mall.reserve(
        driver_id, body.reward_id, request_key=idempotency_key, counter_id=body.counter_id
    )
    redemption = reservation.redemption
    if redemption.state == "failed":
        raise Problem(
            409,
            "Conflict",
            f"the reward was not reserved: {redemption.failure}",
            extra={"reason": redemption.failure, "redemption_id": redemption.redemption_id},
        )
    response.status_code = 201 if reservation.created else 200
    view = RedemptionView.of(redemption).model_dump()
    vouchers: Vouchers = request.app.state.vouchers
    voucher = None
    if redemption.channel == "counter" and redemption.state == "reserved":
        voucher = await vouchers.issue(redemption)
    return ReservationView(**view, code=reservation.code, voucher=voucher)


@router.get(
    "/redemptions",
    response_model=RedemptionPage,
    tags=["mall"],
    summary="Redemptions, newest first (a driver's own; operators any driver's)",
)
async def list_redemptions(
    principal: DriverOrReader,
    mall: MallDep,
    page: PageQuery,
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> RedemptionPage:
    if principal.role == "driver":
        driver_id = own_driver(principal, driver_id)
    position = page.after(AfterTime)
    items = await mall.redemptions_page(
        driver_id=driver_id,
        state=state,
        after=(position.at, position.id) if position else None,
        limit=page.limit,
    )
    last = items[-1] if items else None
    next_cursor = page.next_if_full(
        len(items), AfterTime(at=last.created_at, id=last.redemption_id) if last else None
    )
    return RedemptionPage(items=[RedemptionView.of(r) for r in items], next_cursor=next_cursor)


@router.get(
    "/redemptions/{redemption_id}",
    response_model=RedemptionView,
    tags=["mall"],
    summary="One redemption",
)
async def get_redemption(
    redemption_id: str, principal: DriverOrReader, mall: MallDep
) -> RedemptionView:
    return RedemptionView.of(await visible(mall, principal, redemption_id))


@router.post(
    "/redemptions/{redemption_id}/fulfil",
    response_model=RedemptionView,
    tags=["mall"],
    summary="Hand a reward over at a counter against its one-time code (or mark it shipped)",
)
async def fulfil(
    redemption_id: str,
    body: FulfilRequest,
    principal: Annotated[Principal, Depends(require_scope("mall:manage", or_roles=("station",)))],
    mall: MallDep,
) -> RedemptionView:
    counter_id = body.counter_id
    if principal.role == "station":
        if principal.station_id is None or counter_id not in (None, principal.station_id):
            raise Problem(403, "Forbidden", "counter staff hand over only at their own counter")
        counter_id = principal.station_id
    redemption = await mall.redemption(redemption_id)
    if redemption.channel == "online" and principal.role != "operator":
        raise Problem(403, "Forbidden", "online rewards are shipped by operators")
    if redemption.channel == "counter" and body.code is None:
        raise Problem(422, "Unprocessable Content", "the collection code is required")
    fulfilled = await mall.fulfil(
        redemption_id, body.code, by=principal.actor, counter_id=counter_id
    )
    return RedemptionView.of(fulfilled)


@router.post(
    "/redemptions/{redemption_id}/cancel",
    response_model=RedemptionView,
    tags=["mall"],
    summary="Cancel a reservation: points refunded and stock returned, each exactly once",
)
async def cancel(
    redemption_id: str,
    principal: DriverOrMallManager,
    mall: MallDep,
    body: CancelRequest | None = None,
) -> RedemptionView:
    await visible(mall, principal, redemption_id)
    reason = (body or CancelRequest()).reason
    cancelled = await mall.cancel(redemption_id, by=principal.actor, reason=reason)
    return RedemptionView.of(cancelled)


@router.post(
    "/redemptions/{redemption_id}/code",
    response_model=CodeView,
    tags=["mall"],
    summary="A new collection code for the driver (the previous one stops working)",
)
async def reissue_code(
    redemption_id: str,
    principal: Annotated[Principal, Depends(require_roles("driver"))],
    mall: MallDep,
) -> CodeView:
    await visible(mall, principal, redemption_id)
    _, code = await mall.reissue_code(redemption_id)
    return CodeView(redemption_id=redemption_id, code=code)
