"""What a four-eyes request is (``common.approvals``): the stored request with its audit steps,
who may decide one (a checker), an area (what runs on approval), and the refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from common.auth import Principal
from common.domain_errors import DomainError, ErrorTable

State = Literal["pending", "approved", "refused", "executed", "failed"]


# ---- errors --------------------------------------------------------------------------------
class ApprovalError(DomainError):
    """A refusal of the four-eyes rules; answers carry the ``code``."""

    def problem_members(self) -> dict[str, Any]:
        return {"code": self.code}


class ApprovalNotFound(ApprovalError):
    code = "approval_not_found"


class NotAChecker(ApprovalError):
    """The caller may not decide this request (missing scope, or not the confirming driver)."""

    code = "not_a_checker"

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope

    def problem_members(self) -> dict[str, Any]:
        if self.scope is None:
            return super().problem_members()
        return {**super().problem_members(), "missing_scope": self.scope}  # as common.authz


class MakerIsChecker(ApprovalError):
    code = "maker_is_checker"


class AlreadyDecided(ApprovalError):
    code = "already_decided"


class RequestReused(ApprovalError):
    """An ``Idempotency-Key`` used again by the same maker for another command."""

    code = "idempotency_key_reused"


# Every service answers them alike: create_service_app installs this table in each.
APPROVAL_ERRORS = ErrorTable(
    ApprovalError,
    {
        ApprovalNotFound: 404,
        NotAChecker: 403,
        MakerIsChecker: 403,
        AlreadyDecided: 409,
        RequestReused: 422,
    },
    default=409,
)


class CommandRefused(Exception):
    """Raised by an area's command when the domain refuses it for good (not a transient
    failure): the request ends ``failed`` and nothing took effect."""


# ---- the request ---------------------------------------------------------------------------
class AuditStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: Literal["proposed", "approved", "refused", "executed", "failed"]
    by: str
    role: str
    at: datetime
    note: str | None = None


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    approval_id: str
    area: str
    command: dict[str, Any]
    subject: str | None = None
    summary: str
    maker: str
    reason: str
    created_at: datetime
    expires_at: datetime
    state: State
    checker: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    executed_at: datetime | None = None
    result: dict[str, Any] | None = None
    failure: str | None = None
    audit: list[AuditStep] = Field(default_factory=list)

    def expired(self, now: datetime) -> bool:
        return self.state == "pending" and now >= self.expires_at

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> ApprovalRequest:
        return cls.model_validate({**doc, "approval_id": doc["_id"]})


# ---- who decides ---------------------------------------------------------------------------
class Checker(Protocol):
    @property
    def scope(self) -> str | None:
        """The scope a checker holds (None when it is not a scope that decides)."""

    def refusal(self, principal: Principal, request: ApprovalRequest) -> str | None:
        """Why this principal may not decide the request; None when they may."""

    def sees_all(self, principal: Principal) -> bool:
        """Whether the principal may list every request of the area."""

    def own_subject(self, principal: Principal) -> str | None:
        """The subject whose requests of the area the principal may list when not all of them
        (a driver's own confirmations); None when they may list none."""


@dataclass(frozen=True)
class ScopeChecker:
    """A second operator holding ``scope`` decides."""

    scope: str

    def refusal(self, principal: Principal, request: ApprovalRequest) -> str | None:
        if principal.role != "operator" or not principal.has_scope(self.scope):
            return f"deciding this request needs the scope {self.scope}"
        return None

    def sees_all(self, principal: Principal) -> bool:
        return principal.role == "operator" and principal.has_scope(self.scope)

    def own_subject(self, principal: Principal) -> str | None:
        # The driver a request is about does not decide it: an adjustment or an erasure is
        # the operators' to weigh, and its reasons and notes are theirs.
        return None


@dataclass(frozen=True)
class DriverConfirms:
    """The driver the request is about confirms (or refuses) it with their own token."""

    scope: str | None = None

    def refusal(self, principal: Principal, request: ApprovalRequest) -> str | None:
        if principal.role != "driver" or principal.driver_id != request.subject:
            return "only the driver this request is for may confirm or refuse it"
        return None

    def sees_all(self, principal: Principal) -> bool:
        return False

    def own_subject(self, principal: Principal) -> str | None:
        return principal.driver_id if principal.role == "driver" else None


Command = Callable[[ApprovalRequest], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Area:
    """What may be proposed in an area, who decides, and what runs on approval.

    ``run`` must key its effect by ``request.approval_id`` (the command's idempotency key): it
    may run twice after a crash and must then change nothing the second time.
    """

    name: str
    checker: Checker
    run: Command
