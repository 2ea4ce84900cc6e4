"""Base models for request bodies: unknown fields and ``$``-operators are refused (422)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator


def _reject_operators(value: Any, path: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("$"):
                raise ValueError(f"field names may not start with '$' ({path or 'body'})")
            _reject_operators(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            _reject_operators(item, path)
    elif isinstance(value, str) and value.startswith("$"):
        raise ValueError(f"values may not start with '$' ({path or 'body'})")


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_operators(cls, data: Any) -> Any:
        _reject_operators(data)
        return data


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a cursor-paginated list."""

    items: list[T]
    next_cursor: str | None = None
