"""Notifications and their rules: pure, no I/O."""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from common.domain_errors import DomainError, PartnerSuspendedRefusal
from common.events.notify import NotifyChannel
from common.events.registry import DRIVER_KINDS

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")

Category = Literal[
    "account",
    "points",
    "activity",
    "policy",
    "case",
    "general",
    "road_closure",
    "severe_weather",
    "safety_recall",
    "rest",
]
# Driving-safety exceptions: these go at once, through quiet hours and rate limits. ``rest``
# is a personal rest nudge after hours at the wheel (stations' rest.nudged.v1): held until
# quiet hours end it would arrive when the driver no longer drives, so it is urgent too.
URGENT_CATEGORIES: frozenset[str] = frozenset(
    {"road_closure", "severe_weather", "safety_recall", "rest"}
)
# Categories about one driver only: never a broadcast's.
PERSONAL_CATEGORIES: frozenset[str] = frozenset({"rest"})

DriverChannel = Literal["inbox", "sms"]
Status = Literal["queued", "held", "sent", "delivered", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"delivered", "failed"})

BROADCAST_SOURCE = "driverhome/notify/broadcast"


class NotifyError(DomainError):
    """Base of the notify service's domain errors; ``notify.api.errors`` gives their statuses."""


class NotFound(NotifyError):
    """The answer names what kind of thing is missing, not which one."""

    def __init__(self, what: str, ident: str = "") -> None:
        super().__init__(f"no such {what}")
        self.what = what
        self.ident = ident


class Unprocessable(NotifyError):
    """Invalid input: a 422 naming the field, like FastAPI's own validation errors."""

    field = "body"

    def problem_members(self) -> dict[str, Any]:
        return {"errors": [{"loc": ["body", self.field], "msg": self.problem_detail}]}


class InvalidTemplate(Unprocessable):
    def __init__(self, message: str, unknown: list[str] | None = None) -> None:
        super().__init__(message)
        self.unknown = unknown or []

    def problem_members(self) -> dict[str, Any]:
        return {**super().problem_members(), "unknown_variables": self.unknown}


class UnknownVariables(Unprocessable):
    """A preview given variables its event does not carry."""

    field = "variables"


class UnsafeTarget(Unprocessable):
    """A webhook URL that would let a caller reach internal addresses (SSRF)."""

    field = "url"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def problem_detail(self) -> str:
        return f"webhook target refused: {self.reason}"


class Conflict(NotifyError):
    pass


class PartnerSuspended(PartnerSuspendedRefusal, NotifyError):
    """A suspended partner's webhook subscriptions."""


class InvalidPreferences(Unprocessable):
    field = "sms_phone"


class InvalidBroadcast(Unprocessable):
    field = "urgency"


def is_urgent(category: str) -> bool:
    return category in URGENT_CATEGORIES


def notification_id(driver_id: str, source: str, source_id: str, channel_key: str) -> str:
    """Deterministic: the same cause, driver and channel always give the same notification."""
    raw = "\x1f".join((driver_id, source, source_id, channel_key))
    return "ntf_" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def broadcast_notification_id(broadcast_id: str, driver_id: str, channel_key: str) -> str:
    """From the broadcast, the driver and the channel, whatever page the driver lands in: the id
    alone keeps a broadcast to one notification per driver and channel, and since it starts
    with nothing but the broadcast and the driver it holds per shard when sharded by driver
    (issue 19). Pages list drivers in id order, so ids rise page by page and a fan-out's inserts
    land at the end of the store's id index instead of all over it (on a copy-on-write B-tree,
    such as the local store's, scattered inserts slow down as the collection grows)."""
    return f"ntf_{_sha256(broadcast_id)[:32]}{driver_id}.{_sha256(channel_key)[:16]}"


@functools.lru_cache(maxsize=256)
def _sha256(text: str) -> str:
    # A fan-out hashes the same broadcast id and the same few channel keys for every driver.
    return hashlib.sha256(text.encode()).hexdigest()


def paged_notification_id(
    broadcast_id: str, batch_no: int, index: int, driver_id: str, channel_key: str
) -> str:
    """The ids of broadcasts made before ids were taken from the driver: from the page, the
    driver's place in it and the channel. Such a broadcast keeps them to its end, so a page
    fanned out again after an upgrade hits the ids it stored before."""
    channel = hashlib.sha256(f"{driver_id}\x1f{channel_key}".encode()).hexdigest()[:10]
    head = hashlib.sha256(broadcast_id.encode()).hexdigest()[:12]
    return f"ntf_{head}{batch_no:06x}{index:04x}{channel}"


def new_broadcast_id() -> str:
    return f"brc_{uuid.uuid4().hex}"


def new_subscription_id() -> str:
    return f"whk_{uuid.uuid4().hex[:20]}"


class QuietHours(BaseModel):
    """A daily window, local wall-clock time; may cross midnight (22:00 → 06:00)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours must not start and end at the same time")
        return self

    def ends_after(self, moment: datetime, zone: str) -> datetime | None:
        """When the quiet window holding ``moment`` ends (aware), or None if not quiet then."""
        tz = ZoneInfo(zone)
        local = moment.astimezone(tz)
        today = local.date()
        now_t = local.time().replace(tzinfo=None)
        start, end = self.start, self.end
        if start < end:
            if start <= now_t < end:
                return datetime.combine(today, end, tz)
            return None
        if now_t >= start:
            return datetime.combine(today + timedelta(days=1), end, tz)
        if now_t < end:
            return datetime.combine(today, end, tz)
        return None


class Preferences(BaseModel):
    """What a driver chose. Channels per category; missing categories use the defaults."""

    model_config = ConfigDict(frozen=True)

    driver_id: str
    language: Language | None = None
    channels: dict[str, list[DriverChannel]] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    sms_phone_masked: str | None = None
    has_sms_phone: bool = False

    def channels_for(self, category: str) -> list[DriverChannel]:
        chosen = self.channels.get(category)
        if chosen is None:
            chosen = ["inbox", "sms"] if is_urgent(category) else ["inbox"]
        out: list[DriverChannel] = list(dict.fromkeys(chosen))
        if is_urgent(category) and "inbox" not in out:
            out.insert(0, "inbox")  # safety alerts can be silenced on SMS, not lost
        if not self.has_sms_phone and "sms" in out:
            out.remove("sms")
        return out


class DriverFacts(BaseModel):
    """The little notify keeps about a driver to pick segments and a language."""

    model_config = ConfigDict(frozen=True)

    driver_id: str
    active: bool = True
    fleet: str | None = None
    grade: str | None = None
    language: str | None = None
    grid: str | None = None
    organisations: list[str] = Field(default_factory=list)
    route_grids: list[str] = Field(default_factory=list)
    cell: str | None = None
    # At the wheel until then, by stations' driving.reported.v1 (consenting drivers only).
    driving_until: datetime | None = None

    def driving_at(self, now: datetime) -> datetime | None:
        """Until when the driver counts as driving, if they do at ``now``."""
        if self.driving_until is not None and self.driving_until > now:
            return self.driving_until
        return None


def pick_language(prefs: Preferences | None, facts: DriverFacts | None, default: str) -> Language:
    for candidate in (
        prefs.language if prefs else None,
        facts.language if facts else None,
        default,
    ):
        if candidate in LANGUAGES:
            return candidate
    return "zh-CN"


SegmentKind = Literal[
    "everyone", "grid", "fleet", "organisation", "near", "grade", "route_grid", "driver_kind"
]


class Segment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: SegmentKind
    value: str | None = Field(default=None, max_length=100)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    radius_km: float | None = Field(default=None, gt=0, le=100)
    # A grid or organisation and every unit below it in the registry's trees (issue 16).
    subtree: bool = False

    @model_validator(mode="after")
    def _fits_kind(self) -> Segment:
        if self.subtree and self.kind not in ("grid", "organisation"):
            raise ValueError("only grid and organisation segments reach a subtree")
        if self.kind == "near":
            if self.lat is None or self.lng is None or self.radius_km is None:
                raise ValueError("a 'near' segment needs lat, lng and radius_km")
        elif self.kind != "everyone" and not self.value:
            raise ValueError(f"a '{self.kind}' segment needs a value")
        if self.kind == "driver_kind" and self.value not in DRIVER_KINDS:
            raise ValueError(f"a 'driver_kind' segment is one of {list(DRIVER_KINDS)}")
        return self


class Content(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=2000)


class Rendered(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    body: str
    language: Language


BroadcastStatus = Literal[
    "scheduled", "resolving", "fanning_out", "completed", "cancelled", "expired"
]


class Broadcast(BaseModel):
    model_config = ConfigDict(frozen=True)

    broadcast_id: str
    category: Category
    urgent: bool
    segment: Segment
    content: dict[Language, Content]
    scheduled_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    status: BroadcastStatus
    created_by: str
    created_at: AwareDatetime
    targeted: int = 0
    batches_enqueued: int = 0
    batches_total: int | None = None

    def content_for(self, language: Language) -> Rendered:
        chosen = self.content.get(language) or self.content.get("zh-CN")
        lang: Language = language if language in self.content else "zh-CN"
        if chosen is None:  # validated at creation: zh-CN or the only language exists
            lang, chosen = next(iter(self.content.items()))
        return Rendered(title=chosen.title, body=chosen.body, language=lang)

    def expired_at(self, moment: datetime) -> bool:
        return self.expires_at is not None and moment >= self.expires_at


def check_broadcast(
    category: str,
    urgency: Literal["normal", "urgent"],
    content: dict[Language, Content],
    scheduled_at: datetime,
    expires_at: datetime | None,
) -> bool:
    """Validates a new broadcast; returns whether it is urgent."""
    if not content:
        raise InvalidBroadcast("content needs at least one language")
    if category in PERSONAL_CATEGORIES:
        raise InvalidBroadcast(f"{category} notifications are personal, not broadcast")
    if urgency == "urgent" and not is_urgent(category):
        raise InvalidBroadcast(
            "only road_closure, severe_weather and safety_recall may be urgent: urgency "
            "overrides drivers' quiet hours"
        )
    if expires_at is not None and expires_at <= scheduled_at:
        raise InvalidBroadcast("expires_at must be after the scheduled time")
    return is_urgent(category)


def rate_window(moment: datetime, window_seconds: int) -> int:
    return int(moment.timestamp()) // window_seconds


ChannelKey = str


def channel_of(key: ChannelKey) -> NotifyChannel:
    head = key.split(":", 1)[0]
    if head not in ("inbox", "sms", "webhook"):
        raise ValueError(f"unknown channel key {key!r}")
    return head  # type: ignore[return-value]
