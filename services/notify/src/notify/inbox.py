"""The inbox: a driver's notifications, read or unread, archived; and one notification's
delivery tracking.
"""

from __future__ import annotations

from typing import Any, Literal

from notify.domain import NotFound
from notify.records import Document, NotificationRecords

InboxAction = Literal["read", "unread", "archive"]


class Inbox:
    def __init__(self, records: NotificationRecords) -> None:
        self._notifications = records.notifications
        self._clock = records.clock

    async def inbox(
        self,
        driver_id: str,
        *,
        after: dict[str, Any] | None,
        limit: int,
        unread_only: bool = False,
        archived: bool = False,
    ) -> list[Document]:
        return await self._notifications.inbox(
            driver_id, after=after, limit=limit, unread_only=unread_only, archived=archived
        )

    async def unread_count(self, driver_id: str) -> int:
        return await self._notifications.unread_count(driver_id)

    async def mark(self, driver_id: str, notification_id: str, action: InboxAction) -> Document:
        field, value = {
            "read": ("read_at", self._clock()),
            "unread": ("read_at", None),
            "archive": ("archived_at", self._clock()),
        }[action]
        doc = await self._notifications.set_inbox_flag(driver_id, notification_id, field, value)
        if doc is None:
            raise NotFound("inbox item", notification_id)
        return doc

    async def notification(self, notification_id: str) -> Document:
        doc = await self._notifications.get(notification_id)
        if doc is None:
            raise NotFound("notification", notification_id)
        return doc

    async def failures(
        self, broadcast_id: str | None, *, after: dict[str, Any] | None, limit: int
    ) -> list[Document]:
        """Deliveries that failed for good (every channel), the latest first."""
        return await self._notifications.failures(broadcast_id, after, limit)
