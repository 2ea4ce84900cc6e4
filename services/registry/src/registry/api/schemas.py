"""Drivers and their vehicles: requests and answers. Units, consent, census and oversight
have their own schema modules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from common.events.registry import BaseLocation, DriverKind
from common.schemas import Code, Day, Name, Omittable, RequestModel
from registry.domain import (
    DeactivationReason,
    Driver,
    DriverStatus,
    Membership,
    MembershipRole,
    RegistrationChannel,
    Vehicle,
    VehicleType,
)


class RegisterDriverRequest(RequestModel):
    name: Name = Field(min_length=1, max_length=50)
    phone: Name = Field(min_length=11, max_length=20)
    national_id: Name = Field(min_length=18, max_length=18)
    plate: Name = Field(min_length=7, max_length=12)
    fleet: Name | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="A fleet id, or a fleet's name (a new name creates an unverified fleet)",
    )
    home_province: Name | None = Field(default=None, min_length=2, max_length=20)
    languages: list[Code] = Field(default_factory=list, max_length=10)
    vehicle_type: VehicleType = "container_tractor"
    kind: DriverKind = Field(
        default="container_truck",
        description="Truck (container, general cargo), ride-hailing, taxi",
    )
    base_location: BaseLocation | None = Field(
        default=None,
        description="The declared home/base, coarse (two decimals); announced only with the "
        "driver's location consent",
    )
    partner_driver_ref: Code | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Partners only: their own reference for the driver",
    )


class UpdateDriverRequest(RequestModel):
    """Only the fields given are changed; ``null`` clears an optional field (not ``name``,
    ``national_id`` or ``status``, which every driver has)."""

    name: Omittable[Name] = Field(default=None, min_length=1, max_length=50)
    phone: Name | None = Field(default=None, min_length=11, max_length=20)
    national_id: Omittable[Name] = Field(
        default=None,
        min_length=18,
        max_length=18,
        description="Only to complete a record known by the ID hash alone; must match it",
    )
    home_province: Name | None = Field(default=None, min_length=2, max_length=20)
    languages: list[Code] | None = Field(default=None, max_length=10)
    photo_ref: Code | None = Field(default=None, min_length=1, max_length=200)
    fleet_id: Code | None = Field(default=None, min_length=1, max_length=100)
    grid_id: Code | None = Field(default=None, min_length=1, max_length=100)
    status: Omittable[Literal["active", "inactive"]] = None
    kind: Omittable[DriverKind] = None
    base_location: BaseLocation | None = Field(
        default=None, description="Coarse (two decimals); null removes it"
    )


class SearchRequest(RequestModel):
    plate: Name | None = Field(default=None, min_length=7, max_length=12)
    phone: Name | None = Field(default=None, min_length=11, max_length=20)
    national_id: Name | None = Field(default=None, min_length=18, max_length=18)
    name_prefix: Name | None = Field(default=None, min_length=1, max_length=50)
    fleet_id: Code | None = Field(default=None, max_length=100)
    grid_id: Code | None = Field(default=None, max_length=100)
    organisation_id: Code | None = Field(default=None, max_length=100)
    status: DriverStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Code | None = Field(default=None, max_length=500)


class DeactivateRequest(RequestModel):
    reason: DeactivationReason


class EraseRequest(RequestModel):
    reason: DeactivationReason = "on_request"


class AddVehicleRequest(RequestModel):
    plate: Name = Field(min_length=7, max_length=12)
    vehicle_type: VehicleType = "container_tractor"
    pass_number: Code | None = Field(
        default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$"
    )
    pass_expires_on: Day | None = None


class PassRequest(RequestModel):
    pass_number: Code | None = Field(
        default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$"
    )
    pass_expires_on: Day | None = None


# ---------------------------------------------------------------------- answers


class VehicleView(BaseModel):
    plate: str
    driver_id: str
    holder_active: bool
    vehicle_type: VehicleType
    pass_number: str | None
    pass_expires_on: date | None
    added_at: datetime

    @classmethod
    def of(cls, vehicle: Vehicle) -> VehicleView:
        return cls(**vehicle.model_dump(exclude={"source"}))


class MembershipView(BaseModel):
    driver_id: str
    organisation_id: str
    role: MembershipRole
    mobile: bool
    home_organisation: str | None
    residence_organisation_id: str | None = None
    joined_at: datetime

    @classmethod
    def of(cls, driver_id: str, membership: Membership) -> MembershipView:
        return cls(driver_id=driver_id, **membership.model_dump())


class LinkRequested(BaseModel):
    status: Literal["link_requested"] = "link_requested"
    detail: str = (
        "this person is registered already; the driver confirms the link in their app or "
        "gives you a one-time code (POST /v1/partner-links/redeem)"
    )


class PartnerLinkView(BaseModel):
    partner_id: str
    partner_driver_ref: str | None
    linked_at: datetime
    basis: Literal["registration", "consent"] = Field(
        default="registration",
        description="The partner registered the driver, or the driver confirmed the link",
    )


@dataclass(frozen=True)
class Sight:
    """What of a driver one caller sees beyond the masked record; decided per caller in one
    place (``registry.api.dependencies.sight_of``), so no route can show more by forgetting."""

    location: bool  # the declared base
    affiliations: bool  # memberships (party branches among them) and consents
    links: Literal["all", "own", "none"]  # "own": only the link of ``partner_id``
    partner_id: str | None = None


class DriverView(BaseModel):
    """A driver as the API shows them: sensitive values masked."""

    driver_id: str
    name: str | None
    phone: str | None = Field(description="Masked, e.g. 138****5678")
    national_id: str | None = Field(description="Masked, e.g. 3302**********1234")
    home_province: str | None
    languages: list[str]
    photo_ref: str | None
    kind: DriverKind
    base_location: BaseLocation | None
    plate: str | None = Field(description="The first plate the driver holds")
    plates: list[str]
    fleet_id: str | None
    fleet: str | None
    grid_id: str | None
    route_grid_ids: list[str] = Field(
        default_factory=list, description="The route grids the driver's declared routes join"
    )
    memberships: list[MembershipView] | None = Field(
        description="Operators and the driver only; null to a station or partner (a party "
        "membership is political status)"
    )
    partner_links: list[PartnerLinkView] | None = Field(
        description="Operators and the driver: every link; a partner: its own only; null to a "
        "station"
    )
    consents: dict[str, bool] | None = Field(
        description="Purpose -> currently granted. Operators and the driver only; null to a "
        "station or partner (a station reads GET /v1/drivers/{id}/consents of a driver it reaches)"
    )
    status: DriverStatus
    status_reason: DeactivationReason | None
    channel: RegistrationChannel
    complete: bool
    missing: list[str] = Field(description="What a complete record has and this one lacks")
    erased: bool
    last_verified_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, driver: Driver, vehicles: list[Vehicle], sight: Sight) -> DriverView:
        """The driver as a caller with this ``sight`` sees them (``dependencies.sight_of``)."""
        links = None
        if sight.links != "none":
            links = [
                PartnerLinkView(**link.model_dump())
                for link in driver.partner_links
                if sight.links == "all" or link.partner_id == sight.partner_id
            ]
        held = [v.plate for v in vehicles if v.holder_active]
        return cls(
            driver_id=driver.driver_id,
            name=driver.name,
            phone=driver.phone.masked if driver.phone else None,
            national_id=driver.national_id.masked if driver.national_id else None,
            home_province=driver.home_province,
            languages=driver.languages,
            photo_ref=driver.photo_ref,
            kind=driver.kind,
            base_location=driver.base_location if sight.location else None,
            plate=held[0] if held else None,
            plates=held,
            fleet_id=driver.fleet_id,
            fleet=driver.fleet,
            grid_id=driver.grid_id,
            route_grid_ids=driver.route_grid_ids,
            memberships=[MembershipView.of(driver.driver_id, m) for m in driver.memberships]
            if sight.affiliations
            else None,
            partner_links=links,
            consents={p: s.granted for p, s in driver.consents.items()}
            if sight.affiliations
            else None,
            status=driver.status,
            status_reason=driver.status_reason,
            channel=driver.channel,
            complete=not driver.missing,
            missing=driver.missing,
            erased=driver.erased,
            last_verified_at=driver.last_verified_at,
            created_at=driver.created_at,
            updated_at=driver.updated_at,
        )


class DriverPage(BaseModel):
    items: list[DriverView]
    next_cursor: str | None = None


class VehiclePage(BaseModel):
    items: list[VehicleView]
    next_cursor: str | None = None
