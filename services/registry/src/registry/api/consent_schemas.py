"""Consents and family: requests and answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from common.schemas import Code, Name, RequestModel
from registry.domain import (
    EARLIEST_CHILD_BIRTH_YEAR,
    ConsentChannel,
    ConsentPurpose,
    ConsentState,
)


class ConsentRequest(RequestModel):
    granted: bool
    channel: ConsentChannel


class ChildRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=50)
    birth_year: int = Field(ge=EARLIEST_CHILD_BIRTH_YEAR, le=2100)
    child_id: Code | None = Field(default=None, max_length=100)


class FamilyRequest(RequestModel):
    spouse_name: Name | None = Field(default=None, min_length=1, max_length=50)
    children: list[ChildRequest] = Field(default_factory=list, max_length=10)


class ConsentsView(BaseModel):
    driver_id: str
    current: dict[str, ConsentState]
    history: list[ConsentState]
    purposes: list[ConsentPurpose]


class ChildView(BaseModel):
    child_id: str
    name: str = Field(description="Masked, e.g. 王*")
    birth_year: int
    school_age: bool


class FamilyView(BaseModel):
    driver_id: str
    spouse_name: str | None = Field(description="Masked")
    children: list[ChildView]
