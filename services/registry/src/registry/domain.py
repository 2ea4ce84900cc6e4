"""The driver register's rules: pure, no I/O."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.domain_errors import DomainError
from common.events.registry import BaseLocation, DriverKind
from common.pii import ProtectedValue
from registry.survey import CensusAnswers

DriverStatus = Literal["active", "inactive", "deactivated"]
RegistrationChannel = Literal["self", "station", "partner", "operator"]
VehicleType = Literal["container_tractor", "trailer", "box_truck", "tanker", "other"]
MembershipRole = Literal["member", "leader", "secretary", "volunteer"]
ConsentPurpose = Literal["points", "notifications", "location", "family_services", "party_life"]
ConsentChannel = Literal["app", "station", "paper", "operator", "partner"]
DeactivationReason = Literal[
    "left_district", "retired", "deceased", "duplicate", "on_request", "other"
]

CONSENT_PURPOSES: tuple[ConsentPurpose, ...] = (
    "points",
    "notifications",
    "location",
    "family_services",
    "party_life",
)
# Compulsory education in China: ages 6 to 15.
SCHOOL_AGES = range(6, 16)
# No driver's child recorded in family services was born before this year.
EARLIEST_CHILD_BIRTH_YEAR = 1990

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Province + issuing-authority letter + 5 characters (6 for new-energy plates); trailers end in 挂.
_PLATE = re.compile(
    rf"^[{PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{5}}|[A-HJ-NP-Z0-9]{{4}}挂|[DF][A-HJ-NP-Z0-9]{{5}}|[A-HJ-NP-Z0-9]{{5}}[DF])$"
)


class RegistryError(DomainError):
    """Base of the registry's domain errors."""


class InvalidDriverData(RegistryError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        # The detail is the message alone; the field is named in the errors' location.
        self.message = message

    def problem_members(self) -> dict[str, Any]:
        return {"errors": [{"loc": ["body", self.field], "msg": self.message}]}


class NotFound(RegistryError):
    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what}")
        self.what = what


class DriverNotFound(NotFound):
    def __init__(self, driver_id: str = "") -> None:
        super().__init__("driver")


class Conflict(RegistryError):
    """The request does not fit the current state (a 409)."""

    code = "conflict"

    @property
    def problem_type(self) -> str:
        return f"urn:driverhome:registry:{self.code}"


class PlateTaken(Conflict):
    def __init__(self, plate: str) -> None:
        super().__init__(
            "this plate belongs to another active driver", code="plate-belongs-to-another-driver"
        )
        self.plate = plate


class ConsentRequired(Conflict):
    def __init__(self, purpose: ConsentPurpose) -> None:
        super().__init__(f"the driver has not given consent for {purpose}", code="consent-required")
        self.purpose = purpose


def normalise_plate(plate: str) -> str:
    return re.sub(r"[\s·.-]", "", plate.strip()).upper()


def is_valid_plate(plate: str) -> bool:
    return bool(_PLATE.fullmatch(plate))


def checked_plate(plate: str) -> str:
    normalised = normalise_plate(plate)
    if not is_valid_plate(normalised):
        raise InvalidDriverData("plate", "not a valid Chinese vehicle plate")
    return normalised


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def new_driver_id() -> str:
    return new_id("drv")


def mask_name(name: str) -> str:
    """王建国 -> 王**: enough for a care worker to recognise, not to identify."""
    return name[:1] + "*" * max(1, len(name) - 1)


def is_school_age(birth_year: int, today: date) -> bool:
    return today.year - birth_year in SCHOOL_AGES


class NationalIdRecord(BaseModel):
    """The national ID as the registry keeps it.

    ``hash`` is always known; ``enc`` and ``masked`` only when the number itself was given to
    the registry. ``partner_hashes`` are the number's hashes under each partner's own key (what
    a partner that never sends the number sends instead); a driver only a partner registered
    has its hash as ``hash`` too, so the unique index still holds.
    """

    model_config = ConfigDict(frozen=True)

    hash: str
    enc: str | None = None
    masked: str | None = None
    partner_hashes: tuple[str, ...] = ()


class SealedText(BaseModel):
    """A sensitive text with no lookup need (family names): ciphertext and masked form."""

    model_config = ConfigDict(frozen=True)

    enc: str
    masked: str


class Child(BaseModel):
    model_config = ConfigDict(frozen=True)

    child_id: str
    name: SealedText
    birth_year: int


class Family(BaseModel):
    model_config = ConfigDict(frozen=True)

    spouse_name: SealedText | None = None
    children: list[Child] = Field(default_factory=list)


class ConsentState(BaseModel):
    model_config = ConfigDict(frozen=True)

    purpose: ConsentPurpose
    granted: bool
    at: datetime
    channel: ConsentChannel
    by: str


class Membership(BaseModel):
    model_config = ConfigDict(frozen=True)

    organisation_id: str
    role: MembershipRole = "member"
    # A "mobile" member lives and works here but belongs to an organisation elsewhere
    # (流动党员): the home organisation is where their membership is formally kept.
    mobile: bool = False
    home_organisation: str | None = None
    # Beilun places mobile party members under their residence community's party organisation
    # (seeds/000:43): the organisation here that looks after them.
    residence_organisation_id: str | None = None
    joined_at: datetime


class Route(BaseModel):
    """A route a driver declares (seeds/002:19 "线路行程"): from, to and places on the way."""

    model_config = ConfigDict(frozen=True)

    origin: str
    destination: str
    via: list[str] = Field(default_factory=list)

    def places(self) -> set[str]:
        return {self.origin, self.destination, *self.via}


LinkBasis = Literal["registration", "consent"]


class PartnerLink(BaseModel):
    """A partner that may reach this driver: it registered them, or the driver agreed."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    partner_driver_ref: str | None = None
    linked_at: datetime
    # Links made before the driver's confirmation existed were all made by registration.
    basis: LinkBasis = "registration"


class LinkCode(BaseModel):
    """A one-time code the driver gave one partner: redeeming it is the driver's consent."""

    model_config = ConfigDict(frozen=True)

    hash: str
    partner_id: str
    expires_at: datetime


class LinkRequest(BaseModel):
    """A partner asked to reach a driver it did not register: pending the driver's answer."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    partner_driver_ref: str | None = None
    requested_at: datetime


class Verification(BaseModel):
    model_config = ConfigDict(frozen=True)

    verified_at: datetime
    verified_by: str
    campaign_id: str | None = None
    changed_fields: list[str] = Field(default_factory=list)


class Driver(BaseModel):
    """A driver as the registry keeps them; sensitive values only in protected form.

    A driver a partner registered may lack name, phone and the ID number itself (only its hash
    is known): that is the valid "partner-registered, incomplete" state, see :attr:`missing`.
    After erasure only the pseudonymous id, status, dates and consent history remain.
    """

    model_config = ConfigDict(frozen=True)

    driver_id: str
    name: str | None = None
    national_id: NationalIdRecord | None = None
    phone: ProtectedValue | None = None
    home_province: str | None = None
    languages: list[str] = Field(default_factory=list)
    photo_ref: str | None = None
    # Issue 16: truck, ride-hailing or taxi; records from before kinds were container trucks.
    kind: DriverKind = "container_truck"
    # Coarse (two decimals), announced only with location consent (the service circle).
    base_location: BaseLocation | None = None
    fleet_id: str | None = None
    fleet: str | None = None
    grid_id: str | None = None
    memberships: list[Membership] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    route_grid_ids: list[str] = Field(default_factory=list)
    census_answers: CensusAnswers | None = None
    family: Family | None = None
    consents: dict[str, ConsentState] = Field(default_factory=dict)
    consent_history: list[ConsentState] = Field(default_factory=list)
    partner_links: list[PartnerLink] = Field(default_factory=list)
    link_requests: list[LinkRequest] = Field(default_factory=list)
    link_codes: list[LinkCode] = Field(default_factory=list)
    status: DriverStatus = "active"
    status_reason: DeactivationReason | None = None
    channel: RegistrationChannel
    erased: bool = False
    erased_at: datetime | None = None
    last_verified_at: datetime | None = None
    last_verified_by: str | None = None
    verifications: list[Verification] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @property
    def missing(self) -> list[str]:
        """What a complete record has and this one lacks (empty once erased: nothing to ask)."""
        if self.erased:
            return []
        gaps = []
        if not self.name:
            gaps.append("name")
        if self.phone is None:
            gaps.append("phone")
        if self.national_id is None or self.national_id.enc is None:
            gaps.append("national_id")
        return gaps

    def has_consent(self, purpose: ConsentPurpose) -> bool:
        state = self.consents.get(purpose)
        return bool(state and state.granted)

    def is_linked_to(self, partner_id: str | None) -> bool:
        return partner_id is not None and any(
            link.partner_id == partner_id for link in self.partner_links
        )

    def link_of(self, partner_id: str) -> PartnerLink | None:
        return next((link for link in self.partner_links if link.partner_id == partner_id), None)

    def request_of(self, partner_id: str) -> LinkRequest | None:
        return next((r for r in self.link_requests if r.partner_id == partner_id), None)

    def member_of(self, organisation_id: str) -> Membership | None:
        return next((m for m in self.memberships if m.organisation_id == organisation_id), None)

    def require_not_erased(self) -> None:
        if self.erased:
            raise Conflict("this driver's personal data was erased", code="driver-erased")


class Vehicle(BaseModel):
    """One vehicle, keyed by its plate: the plate's single holder is this document."""

    model_config = ConfigDict(frozen=True)

    plate: str
    driver_id: str
    holder_active: bool = True
    vehicle_type: VehicleType = "container_tractor"
    pass_number: str | None = None
    pass_expires_on: date | None = None
    added_at: datetime
    source: str = "registration"


def changed_names(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """Names of the fields whose values differ (the values themselves are never reported)."""
    return sorted(k for k in after if before.get(k) != after[k])
