"""Four eyes (maker–checker): a change one person proposes takes effect only once a second
person approves it (issue 14). One mechanism for every service; each keeps its requests in its
own store (collection ``approvals``) and names its areas (what may be proposed, who decides, and
the command that runs on approval).

The protocol, on single-document atomicity alone (handbook section 3):

1. **propose** inserts the request (``insert_once``: the same maker, area and
   ``Idempotency-Key`` answer the same request): the proposed command, the maker's ``sub`` and
   reason, ``created_at`` and ``expires_at``, state ``pending``, and the maker's audit step.
2. **approve / refuse** is one conditional update from ``pending`` (and not expired) that
   writes the decision and pushes the checker's audit step: of two checkers deciding at once,
   one wins, the other gets 409. The maker can never be the checker (same ``sub``: refused).
3. **execute**: an approved request is claimed under a short lease, its area runs the command
   with the approval id as the command's idempotency key, then the request is marked
   ``executed`` with the result and a third audit step. A crash after the approval or during
   the command leaves it ``approved``: the sweeper (and any repeated approve) runs it again, and
   because the command's effect is keyed by the approval id, that second run changes nothing.
   A refused or expired request never runs. A command the domain refuses (the account was
   closed meanwhile) ends ``failed`` with the reason; nothing took effect.

Every step is also logged (ids, area and subjects only: never a command's contents).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from pymongo import IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from common.approval_requests import (
    AlreadyDecided,
    ApprovalError,
    ApprovalNotFound,
    ApprovalRequest,
    Area,
    AuditStep,
    Checker,
    Command,
    CommandRefused,
    DriverConfirms,
    MakerIsChecker,
    NotAChecker,
    RequestReused,
    ScopeChecker,
    State,
)
from common.auth import Principal
from common.clock import Clock, utc_now
from common.logging import describe_error, get_logger
from common.mongo import Indexes, insert_once
from common.periodic import Periodic
from common.settings import ServiceSettings

__all__ = [
    "AlreadyDecided",
    "ApprovalError",
    "ApprovalNotFound",
    "ApprovalRequest",
    "Approvals",
    "Area",
    "AuditStep",
    "Checker",
    "Command",
    "CommandRefused",
    "DriverConfirms",
    "MakerIsChecker",
    "NotAChecker",
    "Proposal",
    "RequestReused",
    "ScopeChecker",
    "State",
    "four_eyes",
    "service_approvals",
]

log = get_logger(__name__)

Document = dict[str, Any]
APPROVALS = "approvals"
DEFAULT_TTL = timedelta(days=3)
DEFAULT_RUN_LEASE = timedelta(seconds=30)
SWEEP_BATCH = 100

INDEXES = [
    Indexes(
        APPROVALS,
        (
            IndexModel([("area", 1), ("state", 1), ("created_at", 1), ("_id", 1)], name="listing"),
            IndexModel([("state", 1), ("run_until", 1)], name="to_run"),
            IndexModel([("subject", 1)], name="subject", sparse=True),
        ),
    )
]


def approval_id(area: str, maker: str, key: str | None) -> str:
    if key is None:
        return f"apr_{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{area}\x1f{maker}\x1f{key}".encode()).hexdigest()
    return f"apr_{digest[:32]}"


def _step(step: str, principal: Principal, at: datetime, note: str | None = None) -> Document:
    return {"step": step, "by": principal.sub, "role": principal.role, "at": at, "note": note}


@dataclass(frozen=True)
class Proposal:
    """What a maker proposes: the command (JSON), whom it is about, and why."""

    area: str
    command: dict[str, Any]
    reason: str
    summary: str
    subject: str | None = None
    request_key: str | None = None


class Approvals:
    """The four-eyes use cases of one service, over its ``approvals`` collection."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        areas: list[Area],
        *,
        ttl: timedelta = DEFAULT_TTL,
        run_lease: timedelta = DEFAULT_RUN_LEASE,
        sweep_seconds: float = 5.0,
        clock: Clock = utc_now,
    ) -> None:
        self.collection = collection
        self.areas = {area.name: area for area in areas}
        self._ttl = ttl
        self._run_lease = run_lease
        self._clock = clock
        self._sweeper = Periodic("approvals-sweeper", sweep_seconds, self.finish_approved)

    def now(self) -> datetime:
        return self._clock()

    def area(self, name: str) -> Area:
        if name not in self.areas:
            raise ApprovalNotFound(f"no approval area named {name!r}")
        return self.areas[name]

    # ---- maker -----------------------------------------------------------------------------
    async def propose(self, proposal: Proposal, maker: Principal) -> tuple[ApprovalRequest, bool]:
        """The pending request (and True when new; False for a retry with the same key)."""
        self.area(proposal.area)
        now = self._clock()
        doc: Document = {
            "_id": approval_id(proposal.area, maker.sub, proposal.request_key),
            "area": proposal.area,
            "command": proposal.command,
            "subject": proposal.subject,
            "summary": proposal.summary,
            "maker": maker.sub,
            "reason": proposal.reason,
            "created_at": now,
            "expires_at": now + self._ttl,
            "state": "pending",
            "run_until": None,
            "audit": [_step("proposed", maker, now, proposal.reason)],
        }
        if await insert_once(self.collection, doc):
            log.info("four eyes: proposed", approval_id=doc["_id"], area=proposal.area)
            return ApprovalRequest.of(doc), True
        existing = await self.get(doc["_id"])
        if existing.command != proposal.command or existing.reason != proposal.reason:
            raise RequestReused("this Idempotency-Key was used for another request")
        return existing, False

    # ---- checker ---------------------------------------------------------------------------
    async def approve(
        self, approval_id: str, checker: Principal, note: str | None = None
    ) -> ApprovalRequest:
        """Approve and run the command once; asked again by the same checker, finishes it."""
        request = await self.get(approval_id)
        if request.state in ("approved", "executed", "failed") and request.checker == checker.sub:
            return await self._run(request)  # a retry: finish what a crash may have left
        self._may_decide(request, checker)
        decided = await self._decide(request, checker, "approved", note)
        log.info("four eyes: approved", approval_id=approval_id, area=request.area)
        try:
            return await self._run(decided)
        except Exception as exc:  # a transient failure: approved stands, the sweeper runs it
            log.warning(
                "four eyes: run deferred", approval_id=approval_id, error=describe_error(exc)
            )
            return await self.get(approval_id)

    async def refuse(self, approval_id: str, checker: Principal, note: str) -> ApprovalRequest:
        request = await self.get(approval_id)
        if request.state == "refused" and request.checker == checker.sub:
            return request
        self._may_decide(request, checker)
        refused = await self._decide(request, checker, "refused", note)
        log.info("four eyes: refused", approval_id=approval_id, area=request.area)
        return refused

    def _may_decide(self, request: ApprovalRequest, checker: Principal) -> None:
        refusal = self.area(request.area).checker.refusal(checker, request)
        if refusal is not None:
            raise NotAChecker(refusal, scope=self.area(request.area).checker.scope)
        if checker.sub == request.maker:
            raise MakerIsChecker("the maker of a request cannot also decide it")
        if request.state != "pending":
            raise AlreadyDecided(f"this request was {request.state} already")
        if request.expired(self._clock()):
            raise AlreadyDecided("this request expired undecided; propose it again")

    async def _decide(
        self, request: ApprovalRequest, checker: Principal, state: State, note: str | None
    ) -> ApprovalRequest:
        now = self._clock()
        step = "approved" if state == "approved" else "refused"
        doc = await self.collection.find_one_and_update(
            {
                "_id": request.approval_id,
                "state": "pending",
                "expires_at": {"$gt": now},
                "maker": {"$ne": checker.sub},
            },
            {
                "$set": {
                    "state": state,
                    "checker": checker.sub,
                    "decided_at": now,
                    "decision_note": note,
                },
                "$push": {"audit": _step(step, checker, now, note)},
            },
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # another checker was quicker, or it expired meanwhile
            raise AlreadyDecided("this request was decided meanwhile")
        return ApprovalRequest.of(doc)

    # ---- execution -------------------------------------------------------------------------
    async def _run(self, request: ApprovalRequest) -> ApprovalRequest:
        if request.state != "approved":
            return request
        now = self._clock()
        claimed = await self.collection.find_one_and_update(
            {
                "_id": request.approval_id,
                "state": "approved",
                "$or": [{"run_until": None}, {"run_until": {"$lt": now}}],
            },
            {"$set": {"run_until": now + self._run_lease}},
            return_document=ReturnDocument.AFTER,
        )
        if claimed is None:  # running elsewhere right now (or finished meanwhile)
            return await self.get(request.approval_id)
        return await self._execute(ApprovalRequest.of(claimed))

    async def _execute(self, request: ApprovalRequest) -> ApprovalRequest:
        try:
            result = dict(await self.area(request.area).run(request))
        except CommandRefused as exc:
            return await self._finish(request, "failed", {"failure": str(exc)}, str(exc))
        return await self._finish(request, "executed", {"result": result})

    async def _finish(
        self, request: ApprovalRequest, state: State, values: Document, note: str | None = None
    ) -> ApprovalRequest:
        now = self._clock()
        # The service ran it, on the checker's decision: the audit names neither person here.
        step = {"step": state, "by": "system", "role": "service", "at": now, "note": note}
        doc = await self.collection.find_one_and_update(
            {"_id": request.approval_id, "state": "approved"},
            {
                "$set": {"state": state, "executed_at": now, "run_until": None, **values},
                "$push": {"audit": step},
            },
            return_document=ReturnDocument.AFTER,
        )
        log.info("four eyes: " + state, approval_id=request.approval_id, area=request.area)
        return ApprovalRequest.of(doc) if doc is not None else await self.get(request.approval_id)

    async def finish_approved(self) -> int:
        """Run approved requests a crash left unexecuted (start-up and every sweep)."""
        now = self._clock()
        cursor = self.collection.find(
            {"state": "approved", "$or": [{"run_until": None}, {"run_until": {"$lt": now}}]}
        ).limit(SWEEP_BATCH)
        finished = 0
        async for doc in cursor:
            try:
                done = await self._run(ApprovalRequest.of(doc))
            except Exception as exc:  # the store or a downstream is away: next sweep
                log.warning(
                    "four eyes: run deferred", approval_id=doc["_id"], error=describe_error(exc)
                )
                continue
            finished += done.state in ("executed", "failed")
        return finished

    # ---- reading ---------------------------------------------------------------------------
    async def get(self, approval_id: str) -> ApprovalRequest:
        doc = await self.collection.find_one({"_id": approval_id})
        if doc is None:
            raise ApprovalNotFound("no such approval request")
        return ApprovalRequest.of(doc)

    def may_see(self, principal: Principal, request: ApprovalRequest) -> bool:
        """The maker, whoever may decide it, and (for driver confirmations) the driver."""
        if principal.sub == request.maker:
            return True
        area = self.areas.get(request.area)
        return area is not None and area.checker.refusal(principal, request) is None

    async def listing(
        self,
        principal: Principal,
        *,
        area: str,
        state: State,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ApprovalRequest]:
        """An area's requests oldest first (a console's queue); a driver lists only their own,
        and only in an area they confirm themselves."""
        checker = self.area(area).checker
        query: Document = {"area": area, "state": state}
        if not checker.sees_all(principal):
            subject = checker.own_subject(principal)
            if subject is None:
                raise NotAChecker(
                    f"listing {area} requests needs {checker.scope}", scope=checker.scope
                )
            query["subject"] = subject
        if state == "pending":
            query["expires_at"] = {"$gt": self._clock()}
        if after is not None:
            query["$or"] = [
                {"created_at": {"$gt": after[0]}},
                {"created_at": after[0], "_id": {"$gt": after[1]}},
            ]
        cursor = self.collection.find(query).sort([("created_at", 1), ("_id", 1)]).limit(limit)
        return [ApprovalRequest.of(doc) async for doc in cursor]

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()


def service_approvals(
    db: AsyncDatabase[Document],
    settings: ServiceSettings,
    areas: list[Area],
    *,
    clock: Clock = utc_now,
) -> Approvals:
    """A service's four eyes over its own store, swept as often as its outbox."""
    return Approvals(
        db[APPROVALS],
        areas,
        ttl=timedelta(hours=settings.approval_ttl_hours),
        sweep_seconds=settings.outbox_sweep_seconds,
        clock=clock,
    )


@asynccontextmanager
async def four_eyes(
    app: FastAPI,
    db: AsyncDatabase[Document],
    settings: ServiceSettings,
    areas: list[Area],
    *,
    clock: Clock = utc_now,
) -> AsyncIterator[Approvals]:
    """A lifespan's four eyes: where ``common.approvals_api`` finds them, swept while it runs."""
    approvals = service_approvals(db, settings, areas, clock=clock)
    app.state.approvals = approvals
    approvals.start()
    try:
        yield approvals
    finally:
        await approvals.stop()
