"""Events the partners service announces on ``partners.events``: the partner accounts.

Each event carries the account's whole public state (never its contact, webhook or credentials),
keyed by the partner id, so the topic is compacted and the last event per partner is its state.
Every service that validates partner topics keeps a read model of it (``common.partner_directory``)
and follows a change from the moment it reads the event, without a restart.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData
from common.events.erasure import ErasureCompleted

PartnerStatus = Literal["active", "suspended"]


class PartnerState(EventData):
    """The account as every partner-topic consumer needs it."""

    partner_id: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    name: str = Field(min_length=1, max_length=200, description="The partner's display name")
    allowed_types: list[str] = Field(description="Event types the partner may send")
    status: PartnerStatus
    version: int = Field(ge=1, description="Grows by one with every change of the account")
    changed_at: AwareDatetime = Field(description="When the account changed")


class PartnerRegistered(PartnerState):
    event_type: ClassVar[str] = "partner.registered.v1"


class PartnerUpdated(PartnerState):
    event_type: ClassVar[str] = "partner.updated.v1"

    changed_fields: list[str] = Field(
        default_factory=list, description="Which of `name` and `allowed_types` changed"
    )


class PartnerSuspended(PartnerState):
    event_type: ClassVar[str] = "partner.suspended.v1"

    reason: str = Field(min_length=1, max_length=500, description="Why it was suspended")


class PartnerReinstated(PartnerState):
    event_type: ClassVar[str] = "partner.reinstated.v1"


class PartnersErasureCompleted(ErasureCompleted):
    """The partners service holds nothing personal about the erased driver any more."""

    event_type: ClassVar[str] = "partners.erasure_completed.v1"
