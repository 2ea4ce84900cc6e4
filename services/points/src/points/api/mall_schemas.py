from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from common.schemas import Code, Day, Name, Omittable, RequestModel, Text
from points.leaderboards import Standing
from points.redemptions import Redemption, RedemptionState
from points.rewards import Channel, Reward
from points.statements import SignedStatement

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class RewardRequest(RequestModel):
    reward_id: Identifier
    name: Name = Field(min_length=1, max_length=100, description="Display name (Chinese)")
    category: Name = Field(min_length=1, max_length=40)
    cost: int = Field(gt=0, le=1_000_000, description="Points per unit")
    stock: int = Field(ge=0, le=1_000_000)
    channel: Channel
    counters: list[Identifier] = Field(default_factory=list, max_length=50)
    description: Text | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _counters_match_channel(self) -> RewardRequest:
        _check_counters(self.channel, self.counters)
        return self


def _check_counters(channel: str | None, counters: list[str] | None) -> None:
    if channel == "counter" and counters is not None and not counters:
        raise ValueError("a counter reward names the counters that hand it over")
    if channel == "online" and counters:
        raise ValueError("an online reward is shipped, not handed over at counters")


class RewardChange(RequestModel):
    """Fields left out stay as they are; only ``description`` may be cleared with null."""

    name: Omittable[Name] = Field(default=None, min_length=1, max_length=100)
    category: Omittable[Name] = Field(default=None, min_length=1, max_length=40)
    cost: Omittable[int] = Field(default=None, gt=0, le=1_000_000)
    channel: Omittable[Channel] = None
    counters: Omittable[list[Identifier]] = Field(default=None, max_length=50)
    description: Text | None = Field(default=None, max_length=1000)
    active: Omittable[bool] = None

    @model_validator(mode="after")
    def _counters_match_channel(self) -> RewardChange:
        _check_counters(self.channel, self.counters)
        return self


class StockChange(RequestModel):
    delta: int = Field(ge=-1_000_000, le=1_000_000, description="Units added (or removed)")
    reason: Text = Field(min_length=3, max_length=500)


class RewardView(BaseModel):
    reward_id: str
    name: str
    category: str
    cost: int
    stock: int
    channel: Channel
    counters: list[str]
    description: str | None
    active: bool

    @classmethod
    def of(cls, reward: Reward) -> RewardView:
        return cls.model_validate(reward.model_dump(include=set(cls.model_fields)))


class RewardStockView(RewardView):
    """The operator's view: also units held by open reservations and handed over."""

    held: int
    issued: int
    updated_at: datetime


class RewardPage(BaseModel):
    items: list[RewardView]
    next_cursor: str | None = None


class ReserveRequest(RequestModel):
    reward_id: Identifier
    driver_id: Code | None = Field(
        default=None, max_length=64, description="Operators reserve for a driver"
    )
    counter_id: Code | None = Field(default=None, max_length=64, description="Where to collect")


class RedemptionView(BaseModel):
    redemption_id: str
    driver_id: str
    reward_id: str
    reward_name: str
    cost: int
    channel: Channel
    counters: list[str]
    counter_id: str | None
    state: RedemptionState
    failure: str | None
    created_at: datetime
    reserved_at: datetime | None
    expires_at: datetime | None
    fulfilled_at: datetime | None
    fulfilled_at_counter: str | None
    cancel_reason: str | None

    @classmethod
    def of(cls, redemption: Redemption) -> RedemptionView:
        return cls.model_validate(redemption.model_dump(include=set(cls.model_fields)))


class ReservationView(RedemptionView):
    code: str | None = Field(
        default=None,
        description="The one-time collection code; shown only in this answer (stored hashed)",
    )
    voucher: str | None = Field(
        default=None,
        description="A counter reward's signed voucher (QR payload), verifiable offline; "
        "GET /v1/redemptions/{id}/voucher shows it again",
    )


class RedemptionPage(BaseModel):
    items: list[RedemptionView]
    next_cursor: str | None = None


class FulfilRequest(RequestModel):
    code: Name | None = Field(default=None, min_length=4, max_length=20)
    counter_id: Code | None = Field(default=None, max_length=64)


class CancelRequest(RequestModel):
    reason: Text = Field(default="cancelled by request", min_length=3, max_length=500)


class CodeView(BaseModel):
    redemption_id: str
    code: str


class StatementRequest(RequestModel):
    as_of: Day = Field(description="The cut-off date (end of this day, UTC+8)")
    child_reference: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A reference the school gave (never a name or ID number)",
    )


class SignedStatementView(BaseModel):
    statement: dict[str, Any]
    signature: str = Field(description="Base64 Ed25519 signature of the canonical statement")
    key_id: str
    algorithm: str

    @classmethod
    def of(cls, signed: SignedStatement) -> SignedStatementView:
        return cls(
            statement=signed.statement,
            signature=signed.signature,
            key_id=signed.key_id,
            algorithm=signed.algorithm,
        )


class VerifyRequest(RequestModel):
    statement: dict[str, Any]
    signature: Code = Field(min_length=1, max_length=200)


class VerifyView(BaseModel):
    valid: bool
    detail: str


class PublicKeyView(BaseModel):
    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str
    public_key: str = Field(description="Raw 32-byte public key, base64")
    public_key_pem: str
    canonical_form: str = (
        "JSON of the statement object with keys sorted, separators ',' and ':', no whitespace, "
        "UTF-8 (non-ASCII characters unescaped)"
    )


class StandingView(BaseModel):
    rank: int
    driver_id: str
    points: int

    @classmethod
    def of(cls, standing: Standing) -> StandingView:
        return cls(rank=standing.rank, driver_id=standing.driver_id, points=standing.points)


class LeaderboardView(BaseModel):
    month: str
    fleet: str | None = None
    grid: str | None = None
    items: list[StandingView]
