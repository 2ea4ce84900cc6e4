from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from common.settings import ServiceSettings
from points.grades import GradePolicy

# Development statement key (fixed so issued statements keep verifying across restarts);
# refused in production.
_DEV_STATEMENT_KEY = base64.b64encode(b"driverhome-dev-statement-ed25519").decode()
_ED25519_SEED_BYTES = 32


class RetiredVoucherKey(BaseModel):
    """A voucher key rotated out: its public half still verifies vouchers expiring by then."""

    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    not_after: datetime


class PointsSettings(ServiceSettings):
    service_name: str = "points"
    http_port: int = 8002
    mongo_db: str = "driverhome_points"

    # Points stay valid through the month they were awarded in and this many calendar months
    # after it.
    expiry_months: int = Field(default=24, ge=1, le=120)
    # Credit grades: the AAA and AA thresholds (points earned, sanctions allowed), the months
    # counted (window_months) and each grade's benefits (points.grades.GradePolicy).
    grades: GradePolicy = Field(default_factory=GradePolicy)
    # Finishing half-done entries and applying parked events whose account now exists.
    sweep_seconds: float = Field(default=5.0, gt=0)
    # An earning event for a driver without an active account is held this long, then
    # dead-lettered on its own topic (reason driver_unknown / account_not_active).
    parked_hold_days: float = Field(default=30.0, gt=0, le=365)
    # Expiry and grade refresh; both idempotent, so several instances may run them.
    jobs_interval_seconds: float = Field(default=3600.0, gt=0)

    # Earning events are judged by when points receives them, not by the time their sender
    # writes: one older than this is held for an operator's review instead of credited, one
    # dated further ahead than this (clock skew allowance) is dead-lettered (event_in_future).
    earning_max_age_days: float = Field(default=30.0, gt=0, le=365)
    # Clock skew allowed, in minutes: an earning event dated further ahead is dead-lettered.
    earning_max_future_minutes: float = Field(default=10.0, ge=0, le=24 * 60)
    # Station activities earn without a partner behind them: past this many credited
    # attendances per station and calendar month (UTC), each further one waits for an operator.
    activity_awards_per_station_month: int = Field(default=500, ge=1, le=100_000)

    # The points mall: an unfulfilled reservation is cancelled (points and stock returned)
    # after this many days; redemptions left mid-step by a crash are finished by the sweep
    # once untouched for this many seconds.
    reservation_days: float = Field(default=14.0, gt=0, le=365)
    # A redemption left mid-step and untouched for this many seconds is finished by the sweep.
    redemption_sweep_after_seconds: float = Field(default=30.0, gt=0)
    # The largest compensation the cases service may grant (the same setting as its own):
    # a larger case.compensation_granted.v1 is dead-lettered, not credited.
    max_goodwill_points: int = Field(default=500, gt=0)
    # Four eyes: a manual adjustment of more than this many points (either sign) waits for a
    # second operator's approval (points:approve); smaller ones apply at once.
    adjustment_approval_threshold: int = Field(default=500, ge=0, le=100_000)
    # ... and so does one that would take the points its maker adjusted alone within this many
    # hours (rolling, either sign) past that threshold: many small ones make no large one.
    adjustment_window_hours: float = Field(default=24.0, gt=0, le=24 * 31)
    # Statements: base64 of the 32-byte Ed25519 private key (seed) that signs them.
    statement_signing_key: str = _DEV_STATEMENT_KEY
    # Mall vouchers (points.vouchers): base64 of the 32-byte Ed25519 seed that signs them.
    # Unset outside production: a development key generated on first use under .infra (like
    # the development issuer's); production must set its own. On rotation, list the old
    # public key here with not_after = the last expiry of a voucher it signed.
    voucher_signing_key: str | None = None
    # Rotated-out voucher keys (public key, not_after): each still verifies and is published
    # until its not_after.
    voucher_retired_keys: list[RetiredVoucherKey] = Field(default_factory=list)

    @model_validator(mode="after")
    def _statement_key_is_usable(self) -> PointsSettings:
        try:
            seed = base64.b64decode(self.statement_signing_key, validate=True)
        except ValueError as exc:
            raise ValueError("statement_signing_key must be base64") from exc
        if len(seed) != _ED25519_SEED_BYTES:
            raise ValueError("statement_signing_key must hold a 32-byte Ed25519 key")
        if self.environment == "production" and self.statement_signing_key == _DEV_STATEMENT_KEY:
            raise ValueError("production needs its own statement signing key")
        if self.environment == "production" and not self.voucher_signing_key:
            raise ValueError("production needs its own voucher signing key")
        return self
