from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from common.schemas import AwareInstant, Code, Name, RequestModel, Text, WallTime
from notify.domain import (
    Broadcast,
    BroadcastStatus,
    Category,
    Content,
    DriverChannel,
    Language,
    Preferences,
    QuietHours,
    Segment,
)
from notify.store.notifications import history_of


class InboxItem(BaseModel):
    notification_id: str
    category: str
    urgent: bool
    title: str
    body: str
    language: str
    created_at: datetime
    read: bool
    read_at: datetime | None = None
    archived: bool
    broadcast_id: str | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> InboxItem:
        return cls(
            notification_id=doc["_id"],
            category=doc["category"],
            urgent=doc.get("urgent", False),
            title=doc["title"],
            body=doc["body"],
            language=doc["language"],
            created_at=doc["created_at"],
            read=doc.get("read_at") is not None,
            read_at=doc.get("read_at"),
            archived=doc.get("archived_at") is not None,
            broadcast_id=doc.get("broadcast_id"),
        )


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None = None
    unread: int


class HistoryEntry(BaseModel):
    status: str
    at: datetime
    reason: str | None = None


class NotificationView(BaseModel):
    """Delivery tracking of one notification on one channel."""

    notification_id: str
    driver_id: str
    channel: str
    category: str
    urgent: bool
    collapsed: bool
    status: str
    attempts: int
    reason: str | None
    last_error: str | None = None
    created_at: datetime
    hold_until: datetime | None = None
    delivered_at: datetime | None = None
    cause: dict[str, str]
    broadcast_id: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> NotificationView:
        return cls(
            notification_id=doc["_id"],
            driver_id=doc["driver_id"],
            channel=doc["channel"],
            category=doc["category"],
            urgent=doc.get("urgent", False),
            collapsed=doc.get("collapsed", False),
            status=doc["status"],
            attempts=doc.get("attempts", 0),
            reason=doc.get("reason"),
            last_error=doc.get("last_error"),
            created_at=doc["created_at"],
            hold_until=doc.get("hold_until"),
            delivered_at=doc.get("delivered_at"),
            cause={"source": doc["source"], "id": doc["source_id"], "type": doc["kind"]},
            broadcast_id=doc.get("broadcast_id"),
            history=[HistoryEntry.model_validate(h) for h in history_of(doc)],
        )


class QuietHoursRequest(QuietHours, RequestModel):
    start: WallTime
    end: WallTime


class SegmentRequest(Segment, RequestModel):
    value: Name | None = Field(default=None, max_length=100)


class ContentRequest(Content, RequestModel):
    title: Name = Field(min_length=1, max_length=100)
    body: Text = Field(min_length=1, max_length=2000)


class PreferencesRequest(RequestModel):
    language: Language | None = None
    channels: dict[Category, list[DriverChannel]] = Field(default_factory=dict)
    quiet_hours: QuietHoursRequest | None = None
    sms_phone: Name | None = Field(
        default=None,
        min_length=11,
        max_length=20,
        description="Mobile number for SMS; stored encrypted and shown masked",
    )
    clear_sms_phone: bool = False


class PreferencesView(BaseModel):
    driver_id: str
    language: str | None
    channels: dict[str, list[str]]
    quiet_hours: QuietHours | None
    sms_phone: str | None = Field(description="Masked, e.g. 139****5678")

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesView:
        return cls(
            driver_id=prefs.driver_id,
            language=prefs.language,
            channels={k: list(v) for k, v in prefs.channels.items()},
            quiet_hours=prefs.quiet_hours,
            sms_phone=prefs.sms_phone_masked,
        )


class TemplateText(RequestModel):
    """Template texts hold ``$name`` placeholders by design, so RequestModel's refusal of
    ``$``-values does not fit; they are stored as plain values and never reach a query."""

    dollar_values: ClassVar[bool] = True


class TemplateRequest(TemplateText):
    title: Name = Field(min_length=1, max_length=100)
    body: Text = Field(min_length=1, max_length=2000)


class TemplateView(BaseModel):
    event_type: str
    language: str
    category: str
    title: str
    body: str
    customised: bool
    variables: list[str]


class PreviewRequest(TemplateText):
    title: Name | None = Field(default=None, max_length=100)
    body: Text | None = Field(default=None, max_length=2000)
    variables: dict[Code, Text] = Field(default_factory=dict)


class PreviewView(BaseModel):
    title: str
    body: str
    variables: dict[str, str]


class WebhookRequest(RequestModel):
    url: Code = Field(min_length=8, max_length=2000)
    categories: list[Category] = Field(min_length=1)
    fleet: Name | None = Field(default=None, min_length=1, max_length=100)


class WebhookView(BaseModel):
    subscription_id: str
    partner_id: str
    url: str
    categories: list[str]
    fleet: str | None
    active: bool
    created_at: datetime
    secret: str | None = Field(
        default=None, description="Signing secret: shown once, when the subscription is made"
    )

    @classmethod
    def of(cls, doc: dict[str, Any], secret: str | None = None) -> WebhookView:
        return cls(
            subscription_id=doc["_id"],
            partner_id=doc["partner_id"],
            url=doc["url"],
            categories=doc["categories"],
            fleet=doc.get("fleet"),
            active=doc["active"],
            created_at=doc["created_at"],
            secret=secret,
        )


class BroadcastRequest(RequestModel):
    category: Category
    urgency: Literal["normal", "urgent"] = "normal"
    segment: SegmentRequest
    content: dict[Language, ContentRequest] = Field(min_length=1)
    scheduled_at: AwareInstant | None = None
    expires_at: AwareInstant | None = None


class Progress(BaseModel):
    targeted: int = Field(description="Drivers the segment resolved to so far")
    delivered: int
    failed: int
    held: int
    queued: int
    sent: int
    by_channel: dict[str, dict[str, int]]
    batches_enqueued: int
    batches_done: int
    batches_total: int | None


class BroadcastView(BaseModel):
    broadcast_id: str
    category: str
    urgent: bool
    segment: Segment
    content: dict[str, Content]
    scheduled_at: datetime
    expires_at: datetime | None
    status: BroadcastStatus
    created_by: str
    created_at: datetime
    progress: Progress | None = None

    @classmethod
    def of(
        cls,
        broadcast: Broadcast,
        progress: dict[str, dict[str, int]] | None = None,
        batches_done: int = 0,
    ) -> BroadcastView:
        view = cls(
            broadcast_id=broadcast.broadcast_id,
            category=broadcast.category,
            urgent=broadcast.urgent,
            segment=broadcast.segment,
            content=dict(broadcast.content),
            scheduled_at=broadcast.scheduled_at,
            expires_at=broadcast.expires_at,
            status=broadcast.status,
            created_by=broadcast.created_by,
            created_at=broadcast.created_at,
        )
        if progress is not None:

            def total(status: str) -> int:
                return sum(counts.get(status, 0) for counts in progress.values())

            view.progress = Progress(
                targeted=broadcast.targeted,
                delivered=total("delivered"),
                failed=total("failed"),
                held=total("held"),
                queued=total("queued"),
                sent=total("sent"),
                by_channel=progress,
                batches_enqueued=broadcast.batches_enqueued,
                batches_done=batches_done,
                batches_total=broadcast.batches_total,
            )
        return view


class BroadcastPage(BaseModel):
    items: list[BroadcastView]
    next_cursor: str | None = None


class SmsReceipt(RequestModel):
    out_id: Code = Field(min_length=1, max_length=100)
    status: Literal["DELIVERED", "FAILED"]
    error: Text | None = Field(default=None, max_length=200)
