"""Events the notify service announces on ``notify.events``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime

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
