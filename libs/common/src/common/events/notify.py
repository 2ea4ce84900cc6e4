"""Events the notify service announces on ``notify.events``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from common.events.base import EventData
from common.events.erasure import ErasureCompleted

NotifyChannel = Literal["inbox", "sms", "webhook"]


class NotificationDelivered(EventData):
    event_type: ClassVar[str] = "notification.delivered.v1"

    notification_id: str
    driver_id: str
    channel: NotifyChannel
    category: str
    delivered_at: AwareDatetime


class BroadcastDelivery(BaseModel):
    """One driver's inbox notification of a broadcast page."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    driver_id: str
    notification_id: str


class BroadcastDelivered(EventData):
    """A page of a broadcast reached its drivers' inboxes: one event per durable page instead of
    one ``notification.delivered.v1`` per inbox (issue 19). The event id is
    ``<broadcast>:<page>.delivered``, the same when a page is fanned out again after a crash."""

    event_type: ClassVar[str] = "notification.broadcast_delivered.v1"

    broadcast_id: str
    batch_no: int = Field(ge=0)
    channel: Literal["inbox"] = "inbox"
    category: str
    delivered_at: AwareDatetime
    deliveries: list[BroadcastDelivery] = Field(max_length=5000)


class NotificationFailed(EventData):
    event_type: ClassVar[str] = "notification.failed.v1"

    notification_id: str
    driver_id: str
    channel: NotifyChannel
    category: str
    reason: str
    attempts: int
    failed_at: AwareDatetime


class NotifyErasureCompleted(ErasureCompleted):
    """The notify service holds nothing personal about the erased driver any more."""

    event_type: ClassVar[str] = "notify.erasure_completed.v1"
