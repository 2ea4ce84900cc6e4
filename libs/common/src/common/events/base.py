"""The CloudEvents 1.0 envelope (structured JSON mode) and the base of every event's data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EventId = str

# JSON Schema keyword naming the envelope attribute a data field defaults to.
ENVELOPE_DEFAULT = "x-envelope-default"
EnvelopeAttribute = Literal["subject", "time"]


class _EnvelopeDefault:
    """Marks a field's schema; ``default: null`` is dropped, as null is never a valid value."""

    def __init__(self, attribute: EnvelopeAttribute) -> None:
        self.attribute: EnvelopeAttribute = attribute

    def __call__(self, schema: dict[str, Any]) -> None:
        schema.pop("default", None)
        schema[ENVELOPE_DEFAULT] = self.attribute


def from_envelope(attribute: EnvelopeAttribute) -> Any:
    """A data field that repeats an envelope attribute: optional, defaulting to the envelope.

    Partners may send the handbook's examples as printed, without repeating ``subject`` or
    ``time`` in the data. ``parse_data`` fills the field from the envelope, or refuses the event
    when both are given and differ, so a parsed model always holds a value.
    """
    return Field(
        default=None,
        description=f"Defaults to the envelope's `{attribute}`; if given, must equal it.",
        json_schema_extra=_EnvelopeDefault(attribute),
    )


class EventData(BaseModel):
    """Base of every event's ``data``. Subclasses name their CloudEvents ``type``.

    Consumers ignore unknown fields (a version only grows), so data models allow extras on
    input but never emit them.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]

    @classmethod
    def envelope_defaults(cls) -> dict[str, EnvelopeAttribute]:
        """Data fields (by name) that default to an envelope attribute."""
        return {
            name: field.json_schema_extra.attribute
            for name, field in cls.model_fields.items()
            if isinstance(field.json_schema_extra, _EnvelopeDefault)
        }


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
    """Wrap typed data in an envelope with a fresh id (unless the caller fixes one).

    Without an explicit ``time``, a data time that repeats the envelope's gives it, so the two
    agree as consumers require.
    """
    if time is None:
        times = [n for n, a in data.envelope_defaults().items() if a == "time"]
        time = next((getattr(data, n) for n in times if getattr(data, n) is not None), None)
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=data.event_type,
        subject=subject,
        time=time or datetime.now(UTC),
        data=data.model_dump(mode="json", exclude_none=True),
    )
