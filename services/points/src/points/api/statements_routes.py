"""Signed statements (issue, read, verify, the public key) and monthly leaderboards.

Verifying a statement and reading the public key need no token: a school has no account here,
and the answer only tells whether a document the caller already holds is genuine.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from common.problems import Problem
from points.api.mall_dependencies import (
    Anyone,
    DriverOrReader,
)
from points.api.mall_schemas import (
    LeaderboardView,
    PublicKeyView,
    SignedStatementView,
    StandingView,
    StatementRequest,
    VerifyRequest,
    VerifyView,
)
from points.leaderboards import Leaderboards
from points.statements import Statements

router = APIRouter(prefix="/v1")


async def _statements(request: Request) -> Statements:
    statements: Statements = request.app.state.statements
    return statements


async def _leaderboards(request: Request) -> Leaderboards:
    boards: Leaderboards = request.app.state.leaderboards
    return boards


StatementsDep = Annotated[Statements, Depends(_statements)]


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
    principal: DriverOrReader,
    statements: StatementsDep,
) -> SignedStatementView:
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise Problem(404, "Not Found", "no such account")
    signed = await statements.issue(driver_id, body.as_of, child_reference=body.child_reference)
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
    statement_id: str, principal: DriverOrReader, statements: StatementsDep
) -> SignedStatementView:
    driver_id, signed = await statements.get(statement_id)
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
