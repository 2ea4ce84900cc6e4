"""HTTP for the points mall, signed statements and leaderboards.

Access: drivers their own redemptions and statements; operators everything; counter staff
(role ``station`` whose ``station_id`` is a counter id) only fulfilment at their counter.
Verifying a statement and reading the public key need no token: a school has no account here,
and the answer only tells whether a document the caller already holds is genuine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from common.auth import Principal, require_roles
from common.pagination import PageParams, encode_cursor
from common.problems import Problem
from common.schemas import QueryBool
from points.api.mall_schemas import (
    CancelRequest,
    CodeView,
    FulfilRequest,
    LeaderboardView,
    PublicKeyView,
    RedemptionPage,
    RedemptionView,
    ReservationView,
    ReserveRequest,
    RewardChange,
    RewardPage,
    RewardRequest,
    RewardStockView,
    RewardView,
    SignedStatementView,
    StandingView,
    StatementRequest,
    StockChange,
    VerifyRequest,
    VerifyView,
)
from points.domain import AccountNotActive, AccountNotFound, InsufficientPoints, PointsError
from points.leaderboards import Leaderboards
from points.ledger import LedgerContention
from points.mall import (
    CodeLocked,
    InvalidTransition,
    KeyReused,
    Mall,
    NotAllowedHere,
    OutOfStock,
    Redemption,
    RedemptionNotFound,
    RewardExists,
    RewardNotFound,
    WrongCode,
)
from points.statements import FutureDate, StatementNotFound, Statements

router = APIRouter(prefix="/v1")

Operator = Annotated[Principal, Depends(require_roles("operator"))]
DriverOrOperator = Annotated[Principal, Depends(require_roles("operator", "driver"))]
Anyone = Annotated[Principal, Depends(require_roles("operator", "driver", "station"))]


def _mall(request: Request) -> Mall:
    mall: Mall = request.app.state.mall
    return mall


def _statements(request: Request) -> Statements:
    statements: Statements = request.app.state.statements
    return statements


def _leaderboards(request: Request) -> Leaderboards:
    boards: Leaderboards = request.app.state.leaderboards
    return boards


MallDep = Annotated[Mall, Depends(_mall)]
StatementsDep = Annotated[Statements, Depends(_statements)]


def _problem(exc: PointsError) -> Problem:
    """Domain errors of the mall as HTTP answers."""
    match exc:
        case RewardNotFound():
            return Problem(404, "Not Found", "no such reward")
        case RedemptionNotFound():
            return Problem(404, "Not Found", "no such redemption")
        case AccountNotFound():
            return Problem(404, "Not Found", "no such account")
        case RewardExists():
            return Problem(409, "Conflict", "a reward with this id exists")
        case OutOfStock():
            return Problem(409, "Conflict", "out of stock", extra={"reason": "out of stock"})
        case InsufficientPoints():
            return Problem(409, "Conflict", str(exc), extra={"reason": "insufficient points"})
        case AccountNotActive() | InvalidTransition():
            return Problem(409, "Conflict", str(exc))
        case KeyReused():
            return Problem(422, "Unprocessable Content", str(exc))
        case WrongCode():
            return Problem(422, "Unprocessable Content", "the code does not match")
        case CodeLocked():
            return Problem(423, "Locked", str(exc))
        case NotAllowedHere():
            return Problem(403, "Forbidden", str(exc))
        case LedgerContention():
            return Problem(503, "Service Unavailable", "the account is busy; retry")
    return Problem(409, "Conflict", str(exc))


def _own_driver(principal: Principal, driver_id: str | None) -> str:
    """The driver a request is about: a driver's own id, or the one an operator names."""
    if principal.role == "driver":
        if principal.driver_id is None or driver_id not in (None, principal.driver_id):
            raise Problem(403, "Forbidden", "drivers act only for themselves")
        return principal.driver_id
    if driver_id is None:
        raise Problem(422, "Unprocessable Content", "driver_id is required")
    return driver_id


async def _visible(mall: Mall, principal: Principal, rid: str) -> Redemption:
    try:
        redemption = await mall.redemption(rid)
    except RedemptionNotFound as exc:
        raise Problem(404, "Not Found", "no such redemption") from exc
    if principal.role == "driver" and redemption.driver_id != principal.driver_id:
        raise Problem(404, "Not Found", "no such redemption")
    return redemption


# catalogue ------------------------------------------------------------------------------------
@router.get("/rewards", response_model=RewardPage, tags=["mall"], summary="Browse the rewards")
async def browse_rewards(
    principal: Anyone,
    mall: MallDep,
    page: Annotated[PageParams, Depends()],
    category: Annotated[str | None, Query(max_length=40)] = None,
    channel: Annotated[str | None, Query(pattern="^(online|counter)$")] = None,
    counter_id: Annotated[str | None, Query(max_length=64)] = None,
    include_inactive: QueryBool = False,
) -> RewardPage:
    after = page.after.get("id") if page.after else None
    if after is not None and not isinstance(after, str):
        raise Problem(400, "Bad Request", "the cursor is not valid")
    rewards = await mall.browse(
        category=category,
        channel=channel,
        counter_id=counter_id,
        include_inactive=include_inactive and principal.role == "operator",
        after=after,
        limit=page.limit,
    )
    full = len(rewards) == page.limit
    next_cursor = encode_cursor({"id": rewards[-1].reward_id}) if full else None
    return RewardPage(items=[RewardView.of(r) for r in rewards], next_cursor=next_cursor)


@router.get(
    "/rewards/{reward_id}",
    response_model=RewardStockView | RewardView,
    tags=["mall"],
    summary="One reward (operators also see units held and handed over)",
)
async def get_reward(reward_id: str, principal: Anyone, mall: MallDep) -> Any:
    try:
        reward = await mall.reward(reward_id)
    except RewardNotFound as exc:
        raise _problem(exc) from exc
    if principal.role == "operator":
        return RewardStockView.model_validate(reward.model_dump())
    if not reward.active:
        raise Problem(404, "Not Found", "no such reward")
    return RewardView.of(reward)


@router.post(
    "/rewards",
    status_code=201,
    response_model=RewardStockView,
    tags=["mall"],
    summary="Add a reward to the catalogue",
)
async def add_reward(body: RewardRequest, _: Operator, mall: MallDep) -> RewardStockView:
    spec = body.model_dump(exclude={"reward_id"})
    try:
        reward = await mall.add_reward(body.reward_id, spec)
    except RewardExists as exc:
        raise _problem(exc) from exc
    return RewardStockView.model_validate(reward.model_dump())


@router.patch(
    "/rewards/{reward_id}",
    response_model=RewardStockView,
    tags=["mall"],
    summary="Change a reward (name, category, cost, channel, counters, active)",
)
async def change_reward(
    reward_id: str, body: RewardChange, _: Operator, mall: MallDep
) -> RewardStockView:
    changes = body.model_dump(exclude_unset=True)
    try:
        current = await mall.reward(reward_id)
        channel = changes.get("channel", current.channel)
        counters = changes.get("counters", current.counters)
        if (channel == "counter") != bool(counters):
            raise Problem(
                422, "Unprocessable Content", "counter rewards, and only they, name counters"
            )
        reward = await mall.change_reward(reward_id, changes)
    except RewardNotFound as exc:
        raise _problem(exc) from exc
    return RewardStockView.model_validate(reward.model_dump())


@router.post(
    "/rewards/{reward_id}/stock",
    response_model=RewardStockView,
    tags=["mall"],
    summary="Add (or remove) available units",
)
async def restock(reward_id: str, body: StockChange, _: Operator, mall: MallDep) -> RewardStockView:
    try:
        reward = await mall.restock(reward_id, body.delta)
    except (RewardNotFound, OutOfStock) as exc:
        raise _problem(exc) from exc
    return RewardStockView.model_validate(reward.model_dump())


@router.delete(
    "/rewards/{reward_id}",
    status_code=204,
    tags=["mall"],
    summary="Withdraw a reward (kept for its redemptions; open reservations stay valid)",
)
async def withdraw_reward(reward_id: str, _: Operator, mall: MallDep) -> Response:
    try:
        await mall.change_reward(reward_id, {"active": False})
    except RewardNotFound as exc:
        raise _problem(exc) from exc
    return Response(status_code=204)


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
    },
)
async def reserve(
    body: ReserveRequest,
    response: Response,
    principal: DriverOrOperator,
    mall: MallDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> ReservationView:
    driver_id = _own_driver(principal, body.driver_id)
    try:
        reservation = await mall.reserve(
            driver_id, body.reward_id, request_key=idempotency_key, counter_id=body.counter_id
        )
    except PointsError as exc:
        raise _problem(exc) from exc
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
    return ReservationView(**view, code=reservation.code)


@router.get(
    "/redemptions",
    response_model=RedemptionPage,
    tags=["mall"],
    summary="Redemptions, newest first (a driver's own; operators any driver's)",
)
async def list_redemptions(
    principal: DriverOrOperator,
    mall: MallDep,
    page: Annotated[PageParams, Depends()],
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> RedemptionPage:
    if principal.role == "driver":
        driver_id = _own_driver(principal, driver_id)
    after: tuple[datetime, str] | None = None
    if page.after:
        try:
            after = (datetime.fromisoformat(str(page.after["t"])), str(page.after["id"]))
        except (KeyError, ValueError) as exc:
            raise Problem(400, "Bad Request", "the cursor is not valid") from exc
    items = await mall.redemptions_page(
        driver_id=driver_id, state=state, after=after, limit=page.limit
    )
    next_cursor = None
    if len(items) == page.limit:
        last = items[-1]
        next_cursor = encode_cursor({"t": last.created_at.isoformat(), "id": last.redemption_id})
    return RedemptionPage(items=[RedemptionView.of(r) for r in items], next_cursor=next_cursor)


@router.get(
    "/redemptions/{redemption_id}",
    response_model=RedemptionView,
    tags=["mall"],
    summary="One redemption",
)
async def get_redemption(
    redemption_id: str, principal: DriverOrOperator, mall: MallDep
) -> RedemptionView:
    return RedemptionView.of(await _visible(mall, principal, redemption_id))


@router.post(
    "/redemptions/{redemption_id}/fulfil",
    response_model=RedemptionView,
    tags=["mall"],
    summary="Hand a reward over at a counter against its one-time code (or mark it shipped)",
)
async def fulfil(
    redemption_id: str,
    body: FulfilRequest,
    principal: Annotated[Principal, Depends(require_roles("operator", "station"))],
    mall: MallDep,
) -> RedemptionView:
    counter_id = body.counter_id
    if principal.role == "station":
        if principal.station_id is None or counter_id not in (None, principal.station_id):
            raise Problem(403, "Forbidden", "counter staff hand over only at their own counter")
        counter_id = principal.station_id
    try:
        redemption = await mall.redemption(redemption_id)
        if redemption.channel == "online" and principal.role != "operator":
            raise Problem(403, "Forbidden", "online rewards are shipped by operators")
        if redemption.channel == "counter" and body.code is None:
            raise Problem(422, "Unprocessable Content", "the collection code is required")
        fulfilled = await mall.fulfil(
            redemption_id, body.code, by=principal.sub, counter_id=counter_id
        )
    except PointsError as exc:
        raise _problem(exc) from exc
    return RedemptionView.of(fulfilled)


@router.post(
    "/redemptions/{redemption_id}/cancel",
    response_model=RedemptionView,
    tags=["mall"],
    summary="Cancel a reservation: points refunded and stock returned, each exactly once",
)
async def cancel(
    redemption_id: str,
    principal: DriverOrOperator,
    mall: MallDep,
    body: CancelRequest | None = None,
) -> RedemptionView:
    await _visible(mall, principal, redemption_id)
    reason = (body or CancelRequest()).reason
    try:
        cancelled = await mall.cancel(redemption_id, by=principal.sub, reason=reason)
    except PointsError as exc:
        raise _problem(exc) from exc
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
    await _visible(mall, principal, redemption_id)
    try:
        _, code = await mall.reissue_code(redemption_id)
    except PointsError as exc:
        raise _problem(exc) from exc
    return CodeView(redemption_id=redemption_id, code=code)


# statements -----------------------------------------------------------------------------------
@router.post(
    "/accounts/{driver_id}/statements",
    status_code=201,
    response_model=SignedStatementView,
    tags=["statements"],
    summary="A signed statement of the points as of a date (school admission)",
)
async def issue_statement(
    driver_id: str,
    body: StatementRequest,
    principal: DriverOrOperator,
    statements: StatementsDep,
) -> SignedStatementView:
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise Problem(404, "Not Found", "no such account")
    try:
        signed = await statements.issue(driver_id, body.as_of, child_reference=body.child_reference)
    except AccountNotFound as exc:
        raise Problem(404, "Not Found", "no such account") from exc
    except FutureDate as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from exc
    return SignedStatementView.of(signed)


@router.get(
    "/statements/public-key",
    response_model=PublicKeyView,
    tags=["statements"],
    summary="The key statements are signed with (no token needed)",
)
async def public_key(statements: StatementsDep) -> PublicKeyView:
    signer = statements.signer
    return PublicKeyView(
        key_id=signer.key_id,
        public_key=signer.public_key_b64,
        public_key_pem=signer.public_key_pem,
    )


@router.post(
    "/statements/verify",
    response_model=VerifyView,
    tags=["statements"],
    summary="Whether a statement is exactly as issued (no token needed)",
)
async def verify_statement(body: VerifyRequest, statements: StatementsDep) -> VerifyView:
    valid, detail = statements.verify(body.statement, body.signature)
    return VerifyView(valid=valid, detail=detail)


@router.get(
    "/statements/{statement_id}",
    response_model=SignedStatementView,
    tags=["statements"],
    summary="A statement issued before, with its signature",
)
async def get_statement(
    statement_id: str, principal: DriverOrOperator, statements: StatementsDep
) -> SignedStatementView:
    try:
        driver_id, signed = await statements.get(statement_id)
    except StatementNotFound as exc:
        raise Problem(404, "Not Found", "no such statement") from exc
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise Problem(404, "Not Found", "no such statement")
    return SignedStatementView.of(signed)


# leaderboards ---------------------------------------------------------------------------------
@router.get(
    "/leaderboards",
    response_model=LeaderboardView,
    tags=["leaderboards"],
    summary="Top earners of a month in a fleet or grid (driver ids and points only)",
)
async def leaderboard(
    _: Anyone,
    boards: Annotated[Leaderboards, Depends(_leaderboards)],
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    fleet: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    grid: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:
    if (fleet is None) == (grid is None):
        raise Problem(422, "Unprocessable Content", "name exactly one of fleet or grid")
    if fleet is not None:
        standings = await boards.monthly("fleet", fleet, month, limit)
    else:
        standings = await boards.monthly("grid", str(grid), month, limit)
    return LeaderboardView(
        month=month, fleet=fleet, grid=grid, items=[StandingView.of(s) for s in standings]
    )
