"""Request and answer bodies of the partners API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from common.schemas import Code, Name, Omittable, RequestModel, Text
from partners.domain import PARTNER_ID_PATTERN, Partner, Quotas

PartnerIdField = Annotated[str, StringConstraints(pattern=PARTNER_ID_PATTERN, max_length=64)]
EventType = Annotated[Code, StringConstraints(min_length=1, max_length=200)]


class QuotasIn(RequestModel):
    rate_per_second: int | None = Field(
        default=None, ge=1, le=100_000, description="Events per second; unset: the default"
    )
    daily: int | None = Field(
        default=None, ge=1, le=1_000_000_000, description="Events per day; unset: the default"
    )

    def quotas(self) -> Quotas:
        return Quotas(rate_per_second=self.rate_per_second, daily=self.daily)


class PartnerIn(RequestModel):
    partner_id: PartnerIdField
    name: Annotated[Name, StringConstraints(min_length=1, max_length=200)]
    allowed_types: list[EventType] = Field(max_length=50)
    contact: Annotated[Text, StringConstraints(max_length=500)] | None = None
    quotas: QuotasIn | None = None


class PartnerPatch(RequestModel):
    name: Omittable[Annotated[Name, StringConstraints(min_length=1, max_length=200)]] = None
    allowed_types: Omittable[list[EventType]] = Field(default=None, max_length=50)
    contact: Annotated[Text, StringConstraints(max_length=500)] | None = Field(
        default=None, description="null removes it"
    )
    quotas: Omittable[QuotasIn] = None


class SuspendIn(RequestModel):
    reason: Annotated[Text, StringConstraints(min_length=1, max_length=500)]


class WebhookIn(RequestModel):
    url: Annotated[
        str, StringConstraints(pattern=r"^https?://[^\s\x00-\x1f]+$", max_length=2000)
    ] = Field(description="Where rejection notices are posted (https in production)")


class PartnerView(BaseModel):
    partner_id: str
    name: str
    allowed_types: list[str]
    status: Literal["active", "suspended"]
    suspended_reason: str | None = None
    contact: str | None = None
    webhook_url: str | None = None
    quotas: dict[str, int | None]
    topic: str
    source: str
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, partner: Partner) -> PartnerView:
        return cls(
            partner_id=partner.partner_id,
            name=partner.name,
            allowed_types=partner.allowed_types,
            status=partner.status,
            suspended_reason=partner.suspended_reason,
            contact=partner.contact,
            webhook_url=partner.webhook_url,
            quotas=partner.quotas.model_dump(),
            topic=f"partner.{partner.partner_id}.events",
            source=partner.source,
            version=partner.version,
            created_at=partner.created_at.astimezone(UTC),
            updated_at=partner.updated_at.astimezone(UTC),
        )


class PartnerPage(BaseModel):
    items: list[PartnerView]
    next_cursor: str | None = None


class WebhookView(BaseModel):
    partner: PartnerView
    secret: str | None = Field(
        description="The signing secret, shown only now (whsec_…); null when removed"
    )


class AcceptedView(BaseModel):
    id: str
    source: str
    type: str | None
    status: Literal["accepted"]
    accepted_at: str | None
    receipt: str


class BatchResult(BaseModel):
    index: int
    id: str | None
    status: int = Field(description="202 accepted, 409 conflicting duplicate, 422 refused")
    reason: str | None = None
    detail: str | None = None
    receipt: str | None = None


class BatchView(BaseModel):
    accepted: int
    refused: int
    results: list[BatchResult]


class AppliedView(BaseModel):
    by: str = Field(description="The service that applied it (points, registry, stations)")
    type: str = Field(description="The domain event that said so")
    driver_id: str | None = None
    entry_id: str | None = Field(default=None, description="The points ledger entry")
    checkin_id: str | None = Field(default=None, description="The stations check-in")
    amount: int | None = None
    at: str | None = None


class RefusalView(BaseModel):
    consumer_group: str
    reason: str
    error: str
    dead_lettered_at: str | None = None


class RejectionView(BaseModel):
    rejection_id: str
    event_id: str | None = Field(description="null when the record was not a readable event")
    type: str | None
    subject: str | None
    topic: str
    partition: int
    offset: int
    recorded_at: str
    refusals: list[RefusalView]


class ParkedView(BaseModel):
    by: str = Field(description="The service holding it (points)")
    driver_id: str = Field(description="The driver the event names, who has no active account")
    reason: Literal["driver_unknown", "account_not_active"]
    since: str
    until: str = Field(description="When it is given up (then it appears under rejections)")


class ReceiptView(BaseModel):
    id: str
    source: str
    type: str | None
    status: Literal["accepted", "parked", "applied", "rejected"] = Field(
        description=(
            "accepted: on the partner topic; parked: held until its driver has an account; "
            "applied: a service acted on it; rejected: a consumer dead-lettered it"
        )
    )
    via: Literal["http", "kafka"]
    accepted_at: str | None
    applied: list[AppliedView]
    parked: ParkedView | None = None
    rejections: list[RejectionView]


class RejectionPage(BaseModel):
    items: list[RejectionView]
    next_cursor: str | None = None


class DriverLinkView(BaseModel):
    ref: str
    driver_id: str
    linked_at: str | None


class GradeView(BaseModel):
    driver_id: str
    grade: Literal["AAA", "AA", "A"]
    since: str | None = Field(description="When the grade last changed; null: the opening grade")
    earned_last_12_months: int
    reasons: list[str]
    valid_until: str = Field(
        description=(
            "Start of next month in the district's time zone: points reassesses every grade "
            "monthly over a rolling 12 months, so the grade holds until then at the latest; an "
            "earlier change (new points, expiry) shows here as soon as points announces it"
        )
    )


def view(model: type[BaseModel], data: dict[str, Any]) -> Any:
    return model.model_validate(data)


KeyScope = Literal["events:write", "events:read", "drivers:read", "keys:manage"]


class ApiKeyIn(RequestModel):
    scopes: list[KeyScope] = Field(min_length=1, max_length=4)
    valid_days: int | None = Field(
        default=None, ge=1, le=730, description="Unset: valid until revoked or replaced"
    )
    replaces: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")] | None = Field(
        default=None, description="A key of the same partner that this one takes over from"
    )
    overlap_hours: float = Field(
        default=24.0,
        ge=0,
        le=168,
        description="How long the replaced key keeps working (0: it stops now)",
    )


class ApiKeyView(BaseModel):
    key_id: str
    partner_id: str
    scopes: list[str]
    state: Literal["active", "expired", "revoked"]
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    replaces: str | None

    @classmethod
    def of(cls, doc: dict[str, Any], state: str) -> ApiKeyView:
        def iso(value: datetime | None) -> str | None:
            return value.astimezone(UTC).isoformat() if value else None

        return cls(
            key_id=doc["_id"],
            partner_id=doc["partner_id"],
            scopes=doc["scope"].split(),
            state=state,
            created_at=iso(doc["created_at"]) or "",
            created_by=doc["created_by"],
            expires_at=iso(doc.get("expires_at")),
            revoked_at=iso(doc.get("revoked_at")),
            replaces=doc.get("replaces"),
        )


class IssuedApiKeyView(ApiKeyView):
    key: str = Field(description="The key itself: shown here once, never again")
