"""HTTP for erasure receipts: which services confirmed that they forgot an erased driver."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from common.auth import Principal, current_principal
from common.authz import missing_scope
from common.problems import Problem
from registry.erasure_receipts import ErasureReceipt, ErasureReceipts

router = APIRouter(prefix="/v1", tags=["drivers"])

# Registry clerks and auditors (drivers:read) follow an erasure; security officers
# (security:manage) answer for it (docs/security.md).
RECEIPT_SCOPES = ("drivers:read", "security:manage")


async def receipt_reader(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if principal.role != "operator":
        raise Problem(403, "Forbidden", f"role {principal.role!r} may not do this")
    if not any(principal.has_scope(scope) for scope in RECEIPT_SCOPES):
        raise missing_scope(" or ".join(RECEIPT_SCOPES))
    return principal


@router.get(
    "/drivers/{driver_id}/erasure",
    response_model=ErasureReceipt,
    summary="The erasure receipt: each service's confirmation that it forgot the driver",
    description=(
        "Lists the `<service>.erasure_completed.v1` confirmations received (when, how many "
        "records per data class were deleted or pseudonymised, what stays pseudonymously) and "
        "the services still to answer; `complete` once every service confirmed. 409 "
        "`not-erased` for a driver whose erasure has not started."
    ),
)
async def get_erasure_receipt(
    driver_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(receipt_reader)],
) -> ErasureReceipt:
    receipts: ErasureReceipts = request.app.state.erasure_receipts
    return await receipts.receipt(driver_id)
