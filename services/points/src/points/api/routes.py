from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from common.approvals import Approvals, Proposal
from common.approvals_api import ACCEPTED, propose
from common.auth import Principal
from common.authz import require_scope
from common.pagination import AfterId, BeforeSeq, PageQuery
from common.problems import Problem
from points.api.schemas import (
    AccountView,
    AdjustmentRequest,
    EntryView,
    GradeView,
    HeldDecision,
    HeldEventsPage,
    HeldEventView,
    LedgerPage,
    RefusalRequest,
    ReversalRequest,
    RuleRequest,
    RuleView,
)
from points.domain import (
    month_of,
)
from points.four_eyes import ADJUSTMENT, EARNING_RULE
from points.holds import Holds
from points.readers import AccountReaders
from points.rules import RuleSpec
from points.service import PointsService
from points.store.maker_totals import MakerTotals

router = APIRouter(prefix="/v1")

ACCOUNTS_READ_SCOPE = "accounts:read"
GRADES_READ_SCOPE = "grades:read"
MAX_RULE_ID_LENGTH = 64

# Operators by the scope of the act (common.authz, docs/security.md).
PointsReader = Annotated[Principal, Depends(require_scope("points:read"))]
Adjuster = Annotated[Principal, Depends(require_scope("points:adjust"))]
RulesManager = Annotated[Principal, Depends(require_scope("rules:manage"))]
HoldsDecider = Annotated[Principal, Depends(require_scope("holds:decide"))]


async def _service(request: Request) -> PointsService:
    service: PointsService = request.app.state.service
    return service


Service = Annotated[PointsService, Depends(_service)]


def _approvals(request: Request) -> Approvals:
    approvals: Approvals = request.app.state.approvals
    return approvals


def _maker_totals(request: Request) -> MakerTotals:
    totals: MakerTotals = request.app.state.maker_totals
    return totals


async def _holds(request: Request) -> Holds:
    holds: Holds = request.app.state.holds
    return holds


HoldsDep = Annotated[Holds, Depends(_holds)]


async def _readers(request: Request) -> AccountReaders:
    readers: AccountReaders = request.app.state.account_readers
    return readers


# Whose account a caller may read, partners' links included (points.readers).
Readers = Annotated[AccountReaders, Depends(_readers)]


async def _account_or_404(service: PointsService, driver_id: str) -> None:
    await service.get_account(driver_id)  # AccountNotFound answers 404


@router.get(
    "/accounts/{driver_id}",
    response_model=AccountView,
    tags=["accounts"],
    summary="A driver's points account: balance and credit grade",
)
async def get_account(
    driver_id: str,
    principal: Annotated[
        Principal, Depends(require_scope("points:read", or_roles=("partner", "driver")))
    ],
    service: Service,
    readers: Readers,
) -> AccountView:
    if not await readers.may_read(principal, driver_id, ACCOUNTS_READ_SCOPE):
        raise Problem(404, "Not Found", "no such account")
    account = await service.get_account(driver_id)
    return AccountView.of(account, month_of(service.ledger_clock()))


@router.get(
    "/accounts/{driver_id}/ledger",
    response_model=LedgerPage,
    tags=["accounts"],
    summary="Ledger entries, newest first, each with its cause and rule",
)
async def get_ledger(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_scope("points:read", or_roles=("driver",)))],
    service: Service,
    page: PageQuery,
    readers: Readers,
) -> LedgerPage:
    if not await readers.may_read(principal, driver_id):
        raise Problem(404, "Not Found", "no such account")
    await _account_or_404(service, driver_id)
    before = page.after(BeforeSeq)
    entries = await service.ledger.entries.history(
        driver_id, before_seq=before.seq if before else None, limit=page.limit
    )
    last = BeforeSeq(seq=entries[-1].seq) if entries else None
    next_cursor = page.next_if_full(len(entries), last)
    return LedgerPage(items=[EntryView.of(e) for e in entries], next_cursor=next_cursor)


@router.get(
    "/accounts/{driver_id}/grade",
    response_model=GradeView,
    tags=["grades"],
    summary="A driver's credit grade with its reasons and benefits (the booking system's lookup)",
)
async def get_grade(
    driver_id: str,
    principal: Annotated[
        Principal, Depends(require_scope("points:read", or_roles=("partner", "driver")))
    ],
    service: Service,
    readers: Readers,
) -> GradeView:
    if not await readers.may_read(principal, driver_id, GRADES_READ_SCOPE, ACCOUNTS_READ_SCOPE):
        raise Problem(404, "Not Found", "no such account")
    account = await service.get_account(driver_id)
    assessment = await service.assess(driver_id)
    return GradeView(
        driver_id=driver_id,
        grade=account.grade,
        earned_last_12_months=assessment.earned,
        sanctions_last_12_months=assessment.sanctions,
        reasons=assessment.reasons,
        benefits=service.grades.benefits.get(account.grade, []),
    )


@router.get("/grades", tags=["grades"], summary="Each grade's thresholds and benefits")
async def list_grades(
    _: Annotated[
        Principal, Depends(require_scope("points:read", or_roles=("partner", "driver", "station")))
    ],
    service: Service,
) -> dict[str, object]:
    policy = service.grades
    return {
        "window_months": policy.window_months,
        "grades": [
            {"grade": "AAA", **policy.aaa.model_dump(), "benefits": policy.benefits["AAA"]},
            {"grade": "AA", **policy.aa.model_dump(), "benefits": policy.benefits["AA"]},
            {"grade": "A", "min_points": 0, "benefits": policy.benefits["A"]},
        ],
    }


@router.post(
    "/reversals",
    status_code=201,
    response_model=EntryView,
    tags=["corrections"],
    summary="Reverse an award exactly once (a redemption is refunded by cancelling it)",
)
async def reverse(body: ReversalRequest, principal: Adjuster, service: Service) -> EntryView:
    entry = await service.reverse(body.entry_id, operator=principal.actor, reason=body.reason)
    if entry.state == "rejected":
        raise Problem(409, "Conflict", str(entry.detail.get("rejected", "not applied")))
    return EntryView.of(entry)


@router.post(
    "/accounts/{driver_id}/adjustments",
    status_code=201,
    response_model=EntryView,
    tags=["corrections"],
    summary="A manual adjustment by an operator, with a mandatory reason (audited)",
    description="More than `adjustment_approval_threshold` points (either sign), in this "
    "adjustment or together with those the same operator applied alone within "
    "`adjustment_window_hours`, answers 202 with a pending approval request: a second operator "
    "with points:approve approves it at /v1/approvals/{approval_id}/approve, which applies it "
    "once.",
    responses=ACCEPTED,
)
async def adjust(
    driver_id: str,
    body: AdjustmentRequest,
    request: Request,
    principal: Adjuster,
    service: Service,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> EntryView | JSONResponse:
    if body.amount == 0:
        raise Problem(422, "Unprocessable Content", "an adjustment must change the balance")
    await _account_or_404(service, driver_id)
    request_id = idempotency_key or uuid.uuid4().hex
    threshold = request.app.state.settings.adjustment_approval_threshold
    # Judged by the maker's running total too (points.store.maker_totals): twenty adjustments
    # of 500 are one of 10,000 to the driver, and wait for a second person like it.
    if abs(body.amount) > threshold or not await _maker_totals(request).take(
        principal.actor, driver_id, request_id, abs(body.amount)
    ):
        proposal = Proposal(
            area=ADJUSTMENT,
            command={"driver_id": driver_id, **body.model_dump(mode="json")},
            reason=body.reason,
            summary=f"adjust {driver_id} by {body.amount} points",
            subject=driver_id,
            request_key=idempotency_key,
        )
        return await propose(_approvals(request), proposal, principal)
    entry = await service.adjust(
        driver_id,
        body.amount,
        operator=principal.actor,
        reason=body.reason,
        sanction=body.sanction,
        request_id=request_id,
    )
    if entry.state == "rejected":
        raise Problem(409, "Conflict", str(entry.detail.get("rejected", "not applied")))
    return EntryView.of(entry)


@router.get("/rules", response_model=list[RuleView], tags=["rules"], summary="Rules in force")
async def list_rules(_: PointsReader, service: Service) -> list[RuleView]:
    return [RuleView.of(rule) for rule in await service.rules.current()]


@router.get(
    "/rules/{rule_id}/versions",
    response_model=list[RuleView],
    tags=["rules"],
    summary="Every version of a rule, newest first",
)
async def rule_versions(rule_id: str, _: PointsReader, service: Service) -> list[RuleView]:
    versions = await service.rules.versions(rule_id)
    if not versions:
        raise Problem(404, "Not Found", "no such rule")
    return [RuleView.of(rule) for rule in versions]


@router.put(
    "/rules/{rule_id}",
    status_code=202,
    response_model=None,
    tags=["rules"],
    summary="Propose a rule or a new version of it (old versions are kept); a second "
    "operator with rules:manage approves it at /v1/approvals/{approval_id}/approve",
    responses=ACCEPTED,
)
async def put_rule(
    rule_id: str, body: RuleRequest, request: Request, principal: RulesManager
) -> JSONResponse:
    if not rule_id.replace("-", "").isalnum() or len(rule_id) > MAX_RULE_ID_LENGTH:
        raise Problem(422, "Unprocessable Content", "rule ids are letters, digits and '-'")
    try:
        spec = RuleSpec.model_validate(body.model_dump())
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        raise Problem(
            422, "Unprocessable Content", "the rule is not valid", extra={"errors": errors}
        ) from exc
    proposal = Proposal(
        area=EARNING_RULE,
        command={"rule_id": rule_id, "spec": spec.model_dump(mode="json")},
        reason=f"earning rule {rule_id}: {spec.name}",
        summary=f"new version of earning rule {rule_id}",
        request_key=request.headers.get("Idempotency-Key"),
    )
    return await propose(_approvals(request), proposal, principal)


@router.post("/jobs/expiry", tags=["jobs"], summary="Run the expiry job now (idempotent)")
async def run_expiry(_: Adjuster, service: Service) -> dict[str, object]:
    expired = await service.expire_all()
    return {"expired_accounts": expired, "through_month": service.expiry_month()}


@router.get(
    "/held-events",
    response_model=HeldEventsPage,
    tags=["rules"],
    summary="Earning events held for review (dated before the accepted window), oldest first",
)
async def list_held_events(_: PointsReader, holds: HoldsDep, page: PageQuery) -> HeldEventsPage:
    position = page.after(AfterId)
    held = await holds.pending(after=position.id if position else None, limit=page.limit)
    cursor = page.next_if_full(len(held), AfterId(id=held[-1].hold_id) if held else None)
    return HeldEventsPage(items=[HeldEventView.of(h) for h in held], next_cursor=cursor)


@router.post(
    "/held-events/{hold_id}/approve",
    response_model=HeldDecision,
    tags=["rules"],
    summary="Credit a held event as if received now (once, however often asked)",
)
async def approve_held_event(
    hold_id: str, principal: HoldsDecider, holds: HoldsDep
) -> HeldDecision:
    held, entry = await holds.approve(hold_id, operator=principal.actor)
    return HeldDecision(
        hold=HeldEventView.of(held), entry=EntryView.of(entry) if entry is not None else None
    )


@router.post(
    "/held-events/{hold_id}/refuse",
    response_model=HeldDecision,
    tags=["rules"],
    summary="Refuse a held event: it is never credited",
)
async def refuse_held_event(
    hold_id: str, body: RefusalRequest, principal: HoldsDecider, holds: HoldsDep
) -> HeldDecision:
    held = await holds.refuse(hold_id, operator=principal.actor, reason=body.reason)
    return HeldDecision(hold=HeldEventView.of(held))
