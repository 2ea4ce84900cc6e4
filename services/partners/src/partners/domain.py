"""Partner accounts, what partners send and what became of it: pure models and rules, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.domain_errors import DomainError
from common.events import PARTNER_EVENTS
from common.events.partners import PartnerState, PartnerStatus

PARTNER_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"


URN = "urn:driverhome:partners:"


class PartnersError(DomainError):
    """Base of the partners service's domain errors."""

    @property
    def problem_detail(self) -> str:
        return str(self)


class PartnerNotFound(PartnersError):
    def __init__(self, partner_id: str) -> None:
        super().__init__(f"no partner {partner_id!r}")


class PartnerExists(PartnersError):
    def __init__(self, partner_id: str) -> None:
        super().__init__(f"partner {partner_id!r} exists already")


class PartnerChanged(PartnersError):
    """The account changed meanwhile (another operator): read it again and retry."""

    def __init__(self) -> None:
        super().__init__("the partner account changed meanwhile; read it again and retry")


class NotAPartnerType(PartnersError):
    def __init__(self, event_types: list[str]) -> None:
        super().__init__(f"not partner event types: {', '.join(sorted(event_types))}")
        self.event_types = event_types

    def problem_members(self) -> dict[str, Any]:
        return {"errors": [{"loc": ["body", "allowed_types"], "msg": str(self)}]}


class _Refusal(PartnersError):
    """A refusal a partner's software acts on: its ``reason`` is in the type and the body."""

    reason = "refused"

    @property
    def problem_type(self) -> str:
        return URN + self.reason

    def problem_members(self) -> dict[str, Any]:
        return {"reason": self.reason}


class PartnerSuspended(_Refusal):
    reason = "partner_suspended"

    def __init__(self, partner_id: str) -> None:
        super().__init__(f"partner {partner_id!r} is suspended")


class PartnerNotProvisioned(_Refusal):
    """The partner's topic is not yet created and granted by the platform."""

    reason = "partner_not_provisioned"

    def __init__(self, partner_id: str) -> None:
        super().__init__(
            f"the topic of partner {partner_id!r} is not provisioned yet (the platform gives a "
            "partner registered through the API its topic and grants: make kafka-access)"
        )

    def problem_headers(self) -> dict[str, str]:
        # Provisioning runs from make kafka-access (or the operator's sync loop), not instantly.
        return {"Retry-After": "30"}


class NotFound(PartnersError):
    """Something a partner asked about that does not exist for it (or is not its own)."""


class KeyNotReplaceable(PartnersError):
    """A partner rotates only a key still working and not yet replaced: one key in, one out."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"key {key_id!r} has stopped working or was replaced already")


class EventRefused(_Refusal):
    """An event the gateway does not accept, with the reason consumers would dead-letter it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    @property
    def problem_detail(self) -> str:
        return self.detail or self.reason


class ConflictingDuplicate(EventRefused):
    def __init__(self, source: str, event_id: str) -> None:
        super().__init__(
            "conflicting_duplicate",
            f"({source}, {event_id}) was already received with a different payload",
        )


class OverLimit(PartnersError):
    """Rate limit or daily quota used up; ``retry_after`` seconds until there is room."""

    def __init__(self, which: Literal["rate", "daily"], retry_after: int) -> None:
        limit = "rate limit" if which == "rate" else "daily quota"
        super().__init__(f"the partner's {limit} is used up")
        self.which = which
        self.retry_after = retry_after

    @property
    def problem_type(self) -> str:
        return URN + self.which

    def problem_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Quotas(BaseModel):
    model_config = ConfigDict(frozen=True)

    rate_per_second: int | None = Field(default=None, ge=1)
    daily: int | None = Field(default=None, ge=1)


class Partner(BaseModel):
    """A partner account: this service's data, announced (in part) on partners.events."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    name: str
    allowed_types: list[str]
    status: PartnerStatus = "active"
    contact: str | None = None
    webhook_url: str | None = None
    # AES-GCM ciphertext of the webhook signing secret (common.pii), never shown again.
    webhook_secret_enc: str | None = None
    quotas: Quotas = Quotas()
    suspended_reason: str | None = None
    version: int = 1
    created_at: datetime
    updated_at: datetime

    @property
    def source(self) -> str:
        return f"partner/{self.partner_id}"

    def state(self) -> PartnerState:
        return PartnerState(
            partner_id=self.partner_id,
            name=self.name,
            allowed_types=self.allowed_types,
            status=self.status,
            version=self.version,
            changed_at=self.updated_at,
        )


def checked_types(event_types: list[str]) -> list[str]:
    unknown = [t for t in event_types if t not in PARTNER_EVENTS]
    if unknown:
        raise NotAPartnerType(unknown)
    return list(dict.fromkeys(event_types))


ReceiptStatus = Literal["accepted", "parked", "applied", "rejected"]


def receipt_status(applied: bool, rejected: bool, parked: bool = False) -> ReceiptStatus:
    """Applied by a consumer wins over a refusal of a copy (a conflicting resend, say); a
    refusal (a hold given up, say) wins over the hold."""
    if applied:
        return "applied"
    if rejected:
        return "rejected"
    return "parked" if parked else "accepted"
