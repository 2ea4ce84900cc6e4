"""The full life-cycle service catalogue as data: stages (the articles' "key nodes") and items,
each item mapped to the station service codes and the case categories that deliver it.

Pure, no I/O. The catalogue is versioned: every change is a new version, and an item's code,
once published, stays in every later version (retired, never deleted or reused), so figures
and cases that name a code keep meaning the same thing. The seed is Beilun's 2023 list,
"从入职、规划、社保、关爱等14个关键节点着手 ... 80个服务项目" (seeds/001:25), in
data/lifecycle_beilun_2023.json with the article line of every item.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from common.case_categories import CASE_CATEGORIES as CASE_CATEGORY_LABELS
from common.events.registry import DriverKind
from stations.domain import SERVICES, StationsError

SEED_FILE = Path(__file__).parent / "data" / "lifecycle_beilun_2023.json"
SEED_LABEL = "beilun-2023"

# The case categories of the cases service (common.case_categories): an item names the ones
# a driver's request about it is filed under.
CASE_CATEGORIES = frozenset(CASE_CATEGORY_LABELS)

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,47}$")]
Source = Annotated[str, Field(max_length=60, examples=["seeds/001:25"])]


class CatalogueConflict(StationsError):
    code = "catalogue_conflict"


class CatalogueVersionNotFound(StationsError):
    code = "catalogue_version_not_found"


class LifecycleItemNotFound(StationsError):
    code = "lifecycle_item_not_found"


class CodeDropped(StationsError):
    code = "lifecycle_code_dropped"


class InvalidItem(StationsError):
    code = "lifecycle_item_invalid"


class LifecycleItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Code
    name_zh: str = Field(min_length=1, max_length=60)
    name: str = Field(min_length=1, max_length=120)
    service_codes: list[str] = Field(default_factory=list, max_length=20)
    case_categories: list[str] = Field(default_factory=list, max_length=20)
    driver_kinds: list[DriverKind] | None = Field(
        default=None, description="Only these kinds of drivers; absent: every driver"
    )
    source: Source | None = Field(
        default=None, description="The article line naming the item; null: completed"
    )
    retired: bool = Field(default=False, description="No longer offered; the code stays")

    @field_validator("service_codes")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SERVICES))
        if unknown:
            raise ValueError(f"not in the service catalogue: {unknown}")
        return value

    @field_validator("case_categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - CASE_CATEGORIES)
        if unknown:
            raise ValueError(f"not a case category: {unknown}")
        return value

    def for_kind(self, kind: DriverKind | None) -> bool:
        return kind is None or self.driver_kinds is None or kind in self.driver_kinds


class LifecycleStage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Code
    name_zh: str = Field(min_length=1, max_length=30)
    name: str = Field(min_length=1, max_length=80)
    source: list[Source] = Field(default_factory=list, max_length=10)
    items: list[LifecycleItem] = Field(max_length=200)


class CatalogueContent(BaseModel):
    """What an operator sends to make a new version: every stage with every item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: list[LifecycleStage] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _unique_codes(self) -> CatalogueContent:
        stages = [s.code for s in self.stages]
        items = [i.code for s in self.stages for i in s.items]
        if len(set(stages)) != len(stages) or len(set(items)) != len(items):
            raise ValueError("stage codes and item codes must each be unique")
        return self

    def item_codes(self) -> set[str]:
        return {i.code for s in self.stages for i in s.items}

    def find(self, code: str) -> tuple[LifecycleStage, LifecycleItem] | None:
        for stage in self.stages:
            for item in stage.items:
                if item.code == code:
                    return stage, item
        return None


class CatalogueVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    label: str
    note: str | None = None
    created_at: datetime
    created_by: str
    content: CatalogueContent


def successor(previous: CatalogueContent | None, new: CatalogueContent) -> list[str]:
    """The item codes a new version changes (added, edited, moved or retired).

    Refuses a version that drops a code the previous one had: codes are stable, an item
    that is no longer offered is retired instead.
    """
    if previous is None:
        return sorted(new.item_codes())
    dropped = sorted(previous.item_codes() - new.item_codes())
    if dropped:
        raise CodeDropped(f"item codes cannot be dropped, retire them instead: {dropped}")
    before = _placed(previous)
    return sorted(code for code, placed in _placed(new).items() if before.get(code) != placed)


def _placed(content: CatalogueContent) -> dict[str, tuple[str, LifecycleItem]]:
    return {i.code: (s.code, i) for s in content.stages for i in s.items}


def changed_item(content: CatalogueContent, code: str, changes: dict[str, Any]) -> CatalogueContent:
    """The content with one item's fields changed (validated as a whole again)."""
    if content.find(code) is None:
        raise LifecycleItemNotFound(f"no life-cycle item {code}")
    stages = []
    for stage in content.stages:
        items = [_changed(i, changes) if i.code == code else i for i in stage.items]
        stages.append(stage.model_copy(update={"items": items}))
    return CatalogueContent(stages=stages)


def _changed(item: LifecycleItem, changes: dict[str, Any]) -> LifecycleItem:
    try:
        return LifecycleItem.model_validate({**item.model_dump(), **changes})
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]) for e in exc.errors())
        raise InvalidItem(f"the changed item {item.code} is not valid: {reasons}") from exc


def for_kind(
    content: CatalogueContent, kind: DriverKind | None, *, retired: bool
) -> CatalogueContent:
    """The items a kind of driver is offered (all with ``kind`` None), retired ones on request."""
    stages = [
        s.model_copy(
            update={
                "items": [i for i in s.items if i.for_kind(kind) and (retired or not i.retired)]
            }
        )
        for s in content.stages
    ]
    return CatalogueContent.model_construct(stages=stages)


def seed_content() -> CatalogueContent:
    raw = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    return CatalogueContent.model_validate({"stages": raw["stages"]})
