"""The life-cycle service catalogue: read by everyone who reads stations, changed by operators
with ``stations:manage`` (each change a new version), and its coverage figures per stage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from common.auth import Principal
from common.events.registry import DriverKind
from stations.api.dependencies import Everyone, Service, StationAdmin
from stations.lifecycle import (
    CatalogueContent,
    CatalogueVersion,
    LifecycleStage,
    for_kind,
)
from stations.lifecycle_catalogue import Change

router = APIRouter(prefix="/v1/lifecycle", tags=["life-cycle catalogue"])

# A month of the programme (20xx, ASCII digits): a bare 4-digit year let through year 0000,
# which has no calendar month, and 9999-12, whose month has no representable end.
Month = Annotated[str, Query(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$", examples=["2026-12"])]


class CatalogueView(BaseModel):
    version: int
    label: str
    note: str | None
    created_at: datetime
    created_by: str
    kind: DriverKind | None = Field(description="The kind of driver the items were chosen for")
    stage_count: int
    item_count: int
    stages: list[LifecycleStage]

    @classmethod
    def of(
        cls, version: CatalogueVersion, content: CatalogueContent, kind: DriverKind | None
    ) -> CatalogueView:
        return cls(
            **version.model_dump(exclude={"content"}),
            kind=kind,
            stage_count=len(content.stages),
            item_count=sum(len(s.items) for s in content.stages),
            stages=list(content.stages),
        )


class NewVersion(CatalogueContent):
    model_config = ConfigDict(frozen=True, extra="forbid")

    based_on: int | None = Field(
        default=None, ge=1, description="The version this change was made on; 409 if stale"
    )
    note: str | None = Field(default=None, max_length=500)


class ItemChange(BaseModel):
    """Fields of one item to change; the code stays. ``retired: true`` withdraws it."""

    model_config = ConfigDict(extra="forbid")

    based_on: int | None = Field(default=None, ge=1)
    note: str | None = Field(default=None, max_length=500)
    name_zh: str | None = Field(default=None, min_length=1, max_length=60)
    name: str | None = Field(default=None, min_length=1, max_length=120)
    service_codes: list[str] | None = None
    case_categories: list[str] | None = None
    driver_kinds: list[DriverKind] | None = None
    retired: bool | None = None

    def changes(self) -> dict[str, Any]:
        # driver_kinds set to null means "every driver", so an explicit null counts.
        fields = self.model_dump(exclude_unset=True, exclude={"based_on", "note"})
        return {k: v for k, v in fields.items() if v is not None or k == "driver_kinds"}


class VersionSummary(BaseModel):
    version: int
    label: str
    note: str | None
    created_at: datetime
    created_by: str


class ItemCoverageView(BaseModel):
    code: str
    measured: bool = Field(description="False: no station service code delivers this item")
    drivers_served: int
    uses: int


class StageCoverageView(BaseModel):
    code: str
    drivers_served: int = Field(description="Distinct drivers served by any item of the stage")
    items: list[ItemCoverageView]


class CoverageView(BaseModel):
    month: str
    version: int
    stages: list[StageCoverageView]


async def _kind_for(
    principal: Principal, service: Service, kind: DriverKind | None
) -> DriverKind | None:
    """A driver reading without ``kind`` sees the items for their own kind, if known."""
    if kind is not None or principal.role != "driver" or principal.driver_id is None:
        return kind
    # The driver's id claim, as everywhere (the token's subject is the app's login, not it).
    facts = await service.drivers.facts(principal.driver_id)
    return facts.kind if facts else None


@router.get("", response_model=CatalogueView, summary="The current life-cycle catalogue")
async def current(
    principal: Everyone,
    service: Service,
    kind: DriverKind | None = None,
    include_retired: bool = False,
) -> CatalogueView:
    version = await service.lifecycle.current()
    chosen = await _kind_for(principal, service, kind)
    content = for_kind(version.content, chosen, retired=include_retired)
    return CatalogueView.of(version, content, chosen)


@router.put("", response_model=CatalogueView, summary="Make a new version of the whole catalogue")
async def replace(body: NewVersion, principal: StationAdmin, service: Service) -> CatalogueView:
    content = CatalogueContent(stages=list(body.stages))
    version = await service.lifecycle.replace(
        content, Change(by=principal.actor, based_on=body.based_on, note=body.note)
    )
    return CatalogueView.of(version, version.content, None)


@router.patch(
    "/items/{code}", response_model=CatalogueView, summary="Change one item (a new version)"
)
async def change_item(
    code: str, body: ItemChange, principal: StationAdmin, service: Service
) -> CatalogueView:
    version = await service.lifecycle.change_item(
        code, body.changes(), Change(by=principal.actor, based_on=body.based_on, note=body.note)
    )
    return CatalogueView.of(version, version.content, None)


@router.get("/versions", response_model=list[VersionSummary], summary="Versions, newest first")
async def versions(
    _: Everyone, service: Service, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[VersionSummary]:
    return [
        VersionSummary(
            version=d["_id"], **{k: d.get(k) for k in ("label", "note", "created_at", "created_by")}
        )
        for d in await service.lifecycle.versions(limit)
    ]


@router.get("/versions/{number}", response_model=CatalogueView, summary="A past version")
async def version(
    number: Annotated[int, Path(ge=1, le=2**31)], _: Everyone, service: Service
) -> CatalogueView:
    found = await service.lifecycle.version(number)
    return CatalogueView.of(found, found.content, None)


@router.get(
    "/coverage",
    response_model=CoverageView,
    summary="Drivers served per item and stage in a month (counted check-ins)",
)
async def coverage(month: Month, _: StationAdmin, service: Service) -> CoverageView:
    catalogue, stages = await service.lifecycle.coverage(month)
    return CoverageView(
        month=month,
        version=catalogue.version,
        stages=[
            StageCoverageView(
                code=s.code,
                drivers_served=s.drivers_served,
                items=[ItemCoverageView(**vars(i)) for i in s.items],
            )
            for s in stages
        ],
    )
