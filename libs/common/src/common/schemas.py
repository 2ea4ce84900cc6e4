"""Base models and string/time types for request bodies and query parameters.

Request bodies are strict: unknown fields, ``$``-operators, lax coercions (``0`` as ``false`` or
as a date-time, ``"5"`` as ``5``), lone UTF-16 surrogates (they cannot be stored as UTF-8) and
control characters are refused with 422. FastAPI validates the parsed JSON in pydantic's Python
mode, where strict mode would also refuse ISO date strings, so times use :data:`Instant`,
:data:`AwareInstant` and :data:`Day`, which accept exactly the ISO 8601 strings.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Strict,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

# Control characters (C0 but tab, line feed and carriage return; DEL; C1) and lone surrogates.
_TEXT_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
NAME_PATTERN = r"^[^\x00-\x1F\x7F-\x9F]*$"
CODE_PATTERN = r"^[^\s\x00-\x1F\x7F-\x9F]*$"

Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
"""Free text: line breaks and tabs allowed; other control characters and lone surrogates not."""
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""A single line (a name, a title, an address): no control characters at all."""
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
"""An identifier or code: no whitespace and no control characters."""


# Deeper than any request body of ours nests: refused before the walk (or Python) runs out.
MAX_DEPTH = 32


def _reject_operators(
    value: Any, path: str = "", *, dollar_values: bool = False, depth: int = 0
) -> None:
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise ValueError(f"the body nests deeper than {MAX_DEPTH} levels ({path or 'body'})")
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                if key.startswith("$"):
                    raise ValueError(f"field names may not start with '$' ({path or 'body'})")
                _check_text(key, path)
            _reject_operators(
                item,
                f"{path}.{key}" if path else str(key),
                dollar_values=dollar_values,
                depth=depth + 1,
            )
    elif isinstance(value, list):
        for item in value:
            _reject_operators(item, path, dollar_values=dollar_values, depth=depth + 1)
    elif isinstance(value, str):
        if value.startswith("$") and not dollar_values:
            raise ValueError(f"values may not start with '$' ({path or 'body'})")
        _check_text(value, path)


def _check_text(value: str, path: str) -> None:
    if _TEXT_FORBIDDEN.search(value):
        # The path only: the value may be personal data, and a surrogate cannot even be encoded.
        where = path.encode("utf-8", "replace").decode() or "body"
        raise ValueError(f"text may not hold control characters or lone surrogates ({where})")


def _add_text_pattern(schema: dict[str, Any]) -> None:
    """Publish the floor every request string has, so clients (and the fuzzer) know it."""
    for prop in schema.get("properties", {}).values():
        for variant in [prop, *prop.get("anyOf", []), prop.get("items") or {}]:
            plain = not ({"pattern", "format", "enum", "const"} & variant.keys())
            if variant.get("type") == "string" and plain:
                variant["pattern"] = TEXT_PATTERN


class RequestModel(BaseModel):
    """The base of every request body model (and of the models nested in one)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        str_strip_whitespace=True,
        json_schema_extra=_add_text_pattern,
    )
    # Template texts hold ``$name`` placeholders by design and never reach a query.
    dollar_values: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _no_operators(cls, data: Any) -> Any:
        _reject_operators(data, dollar_values=cls.dollar_values)
        return data


# times ------------------------------------------------------------------------------------
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?")
_ISO_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?"
)


def _iso_date_time(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE_TIME.fullmatch(value)):
        return value
    raise ValueError("expected an ISO 8601 date-time string")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("expected an ISO 8601 date string (YYYY-MM-DD)")


def _iso_time(value: Any) -> Any:
    if isinstance(value, time) or (isinstance(value, str) and _ISO_TIME.fullmatch(value)):
        return value
    raise ValueError("expected a wall-clock time string (HH:MM or HH:MM:SS)")


# The years a stored time may fall in once in UTC: the store's dates end with year 9999, and
# 9999-12-31T20:00-11:00 is already past it (a 500 on the insert, not a 422 here).
FIRST_YEAR, LAST_YEAR = 1900, 9998


def _storable(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value
    except OverflowError:
        utc = None
    if utc is None or not FIRST_YEAR <= utc.year <= LAST_YEAR:
        raise ValueError(f"a time between the years {FIRST_YEAR} and {LAST_YEAR} (UTC)")
    return value


Instant = Annotated[
    datetime, Strict(False), BeforeValidator(_iso_date_time), AfterValidator(_storable)
]
"""A date-time from its ISO 8601 string only (never from a number)."""
AwareInstant = Annotated[
    AwareDatetime, Strict(False), BeforeValidator(_iso_date_time), AfterValidator(_storable)
]
"""An ISO 8601 date-time with its UTC offset."""
Day = Annotated[date, Strict(False), BeforeValidator(_iso_date)]
"""A calendar date from its ISO 8601 string only (also for query parameters)."""
WallTime = Annotated[time, Strict(False), BeforeValidator(_iso_time)]
"""A local wall-clock time from its ``HH:MM[:SS]`` string only."""


def _query_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("expected true or false")


QueryBool = Annotated[bool, Strict(False), BeforeValidator(_query_bool)]
"""A boolean query parameter: ``true`` or ``false``, not ``0``, ``1``, ``yes`` or ``on``."""


# partial updates ----------------------------------------------------------------------------
def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out but not null")
    return value


T = TypeVar("T")

Omittable = Annotated[T | SkipJsonSchema[None], BeforeValidator(_not_null)]
"""A field of a partial update that may be left out but never set to null (``None`` is only
its default, meaning 'unchanged'): a null would be stored where a value is required."""


class Page(BaseModel, Generic[T]):
    """A page of a cursor-paginated list."""

    items: list[T]
    next_cursor: str | None = None
