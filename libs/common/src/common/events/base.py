"""The CloudEvents 1.0 envelope (structured JSON mode) and the base of every event's data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EventId = str


class EventData(BaseModel):
    """Base of every event's ``data``. Subclasses name their CloudEvents ``type``.

    Consumers ignore unknown fields (a version only grows), so data models allow extras on
    input but never emit them.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope as it travels on Kafka (structured JSON mode)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200, pattern=r"^[a-z][a-z0-9_.]*\.v[0-9]+$")
    subject: str = Field(min_length=1, max_length=200)
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        """``(source, id)``: the event's identity forever, and every consumer's dedupe key."""
        return (self.source, self.id)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def new_event(
    data: EventData,
    *,
    source: str,
    subject: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Wrap typed data in an envelope with a fresh id (unless the caller fixes one)."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=data.event_type,
        subject=subject,
        time=time or datetime.now(UTC),
        data=data.model_dump(mode="json", exclude_none=True),
    )
