"""Events the registry announces on ``registry.events``. None carries an ID or phone number."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from common.events.base import EventData

DriverId = str
Channel = Literal["self", "station", "partner", "operator"]
# Wenzhou and Xuecheng serve ride-hailing and taxi drivers beside truck drivers (seeds/003:9,
# 002:49); the port's container trucks are the default every earlier event meant.
DriverKind = Literal["container_truck", "general_cargo_truck", "ride_hailing", "taxi"]
DRIVER_KINDS: tuple[DriverKind, ...] = (
    "container_truck",
    "general_cargo_truck",
    "ride_hailing",
    "taxi",
)


class BaseLocation(BaseModel):
    """A driver's declared home or base, coarse: two decimals (about a kilometre), never a
    track. Announced only while the driver consents to the ``location`` purpose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float = Field(ge=-90, le=90, multiple_of=0.01)
    lng: float = Field(ge=-180, le=180, multiple_of=0.01)


class DriverRegistered(EventData):
    event_type: ClassVar[str] = "driver.registered.v1"

    driver_id: DriverId
    channel: Channel
    registered_at: AwareDatetime
    fleet: str | None = None
    home_province: str | None = None
    language: str | None = None
    fleet_id: str | None = Field(default=None, description="The fleet the driver belongs to")
    grid_id: str | None = Field(default=None, description="The grid the driver is assigned to")
    partner_id: str | None = Field(
        default=None,
        description="The partner that registered the driver, if one did: the driver is linked "
        "to it (basis `registration`)",
    )
    partner_driver_ref: str | None = Field(
        default=None, description="That partner's own reference for the driver, if it gave one"
    )
    kind: DriverKind = Field(
        default="container_truck",
        description="Truck (container, general cargo), ride-hailing or taxi; absent in events "
        "before kinds existed, which meant container trucks",
    )
    base_location: BaseLocation | None = Field(
        default=None,
        description="The declared home/base, coarse, only with location consent",
    )


class DriverUpdated(EventData):
    event_type: ClassVar[str] = "driver.updated.v1"

    driver_id: DriverId
    changed_fields: list[str] = Field(description="Names of changed fields, never their values")
    updated_at: AwareDatetime
    # Grouping facts are not personal data; other services segment and rank by them. When a
    # name below is in changed_fields, its value here is the new one (absent = removed).
    fleet_id: str | None = None
    fleet: str | None = None
    grid_id: str | None = None
    kind: DriverKind | None = Field(default=None, description="With `kind` changed: the new kind")
    base_location: BaseLocation | None = Field(
        default=None,
        description="With `base_location` changed: the new coarse base (absent: removed, or "
        "location consent withdrawn)",
    )
    # When "partner_links" is in changed_fields: the partner whose reference was set on its
    # link, and that reference, so the partner can learn the driver id. New links are
    # announced by driver.partner_linked.v1 (or driver.registered.v1's partner_id).
    partner_id: str | None = Field(
        default=None,
        description="With `partner_links` changed: the partner whose reference was set",
    )
    partner_driver_ref: str | None = Field(
        default=None, description="With `partner_links` changed: that partner's reference"
    )
    # The consent announcement every service follows (issue 14): points pauses earning,
    # notify holds marketing, stations and notify keep no location beyond its purpose.
    consents: dict[str, bool] | None = Field(
        default=None,
        description=(
            "With `consents.<purpose>` changed: whether that purpose (points, notifications, "
            "location, family_services, party_life) is now granted"
        ),
    )
    # Issue 16: the units a driver belongs to, so notify and cases can target subtrees and
    # route grids without asking the registry.
    organisation_ids: list[str] | None = Field(
        default=None,
        description="With `memberships` changed: every organisation the driver is now a member of",
    )
    route_grid_ids: list[str] | None = Field(
        default=None,
        description="With `route_grid_ids` changed: the route grids the driver's declared routes "
        "now join",
    )


class DriverVerified(EventData):
    event_type: ClassVar[str] = "driver.verified.v1"

    driver_id: DriverId
    verified_at: AwareDatetime
    verified_by: str
    changed_fields: list[str] = Field(default_factory=list)


class DriverDeactivated(EventData):
    event_type: ClassVar[str] = "driver.deactivated.v1"

    driver_id: DriverId
    deactivated_at: AwareDatetime
    reason: str
    erased: bool = Field(
        default=False, description="True when the driver's personal data was erased: forget it"
    )


LinkBasis = Literal["registration", "consent"]


class DriverPartnerLinked(EventData):
    """A partner may now reach this driver: every service answering partners follows it.

    A driver registered through a partner is linked by ``driver.registered.v1``'s
    ``partner_id`` (basis ``registration``); any other link exists only once the driver
    confirmed it (basis ``consent``), announced by this event.
    """

    event_type: ClassVar[str] = "driver.partner_linked.v1"

    driver_id: DriverId
    partner_id: str
    basis: LinkBasis
    linked_at: AwareDatetime
    partner_driver_ref: str | None = Field(
        default=None, description="The partner's own reference for the driver, if it gave one"
    )


class DriverPartnerUnlinked(EventData):
    """The partner may no longer reach this driver (the driver withdrew the link)."""

    event_type: ClassVar[str] = "driver.partner_unlinked.v1"

    driver_id: DriverId
    partner_id: str
    unlinked_at: AwareDatetime


class OrganisationPlaced(EventData):
    """An organisation was created or moved in the tree (issue 16).

    Moving a subtree announces every organisation in it, the moved one first, each with its new
    ancestors, so a consumer keeps the tree by upserting ``ancestor_ids``.
    """

    event_type: ClassVar[str] = "organisation.placed.v1"

    organisation_id: str
    kind: str
    parent_id: str | None = Field(default=None, description="None: a root")
    ancestor_ids: list[str] = Field(default_factory=list, description="Root first")
    previous_parent_id: str | None = Field(
        default=None, description="On a move: the moved organisation's former parent"
    )
    moved_root_id: str | None = Field(
        default=None, description="On a move: the organisation whose subtree moved"
    )
    placed_at: AwareDatetime


class GridPlaced(EventData):
    """A residence grid was created or moved in the grid tree (issue 16); like
    ``organisation.placed.v1``, a moved subtree is announced node by node."""

    event_type: ClassVar[str] = "grid.placed.v1"

    grid_id: str
    level: str | None = Field(default=None, description="community, grid or micro_grid")
    parent_id: str | None = None
    ancestor_ids: list[str] = Field(default_factory=list, description="Root first")
    previous_parent_id: str | None = None
    moved_root_id: str | None = None
    placed_at: AwareDatetime


class CensusNeedReferred(EventData):
    """An operator turned a need the driver named in the census into a case (issue 16): the
    cases service opens one case of ``category`` for the driver on this event."""

    event_type: ClassVar[str] = "census.need_referred.v1"

    driver_id: DriverId
    need_id: str = Field(description="The need's id in the driver's census answers")
    campaign_id: str | None = None
    category: str = Field(description="A case category of the cases service")
    summary: str = Field(description="The need in a line, scrubbed of ID and phone numbers")
    referred_by: str
    referred_at: AwareDatetime


class UnitCensusResult(BaseModel):
    """One unit's census results: counts only, never a driver."""

    model_config = ConfigDict(frozen=True)

    unit_id: str | None = Field(description="The grid or organisation; null: no grid")
    drivers_answered: int
    needs: dict[str, int] = Field(default_factory=dict, description="Needs by case category")
    needs_referred: int = 0
    interests: dict[str, int] = Field(default_factory=dict)
    party_members: int = Field(default=0, description="Consented answers only")
    route_grids: dict[str, int] = Field(default_factory=dict)


class CensusResultsFedBack(EventData):
    """A campaign's results summarised per grid and per organisation and fed back to the towns,
    communities and organisations (seeds/002:19 "每季度向镇街党(工)委、村(社区)党组织进行反馈")."""

    event_type: ClassVar[str] = "census.results_fed_back.v1"

    campaign_id: str
    quarter: str
    fed_back_at: AwareDatetime
    fed_back_by: str
    grids: list[UnitCensusResult] = Field(default_factory=list)
    organisations: list[UnitCensusResult] = Field(default_factory=list)


class PersonAppointed(EventData):
    """A person (not a driver: a social-worker secretary, an instructor) took a role in an
    organisation. Ids and the role only; followers keep who holds which role (the cases
    service lets a branch's secretary read the branch's party-life figures)."""

    event_type: ClassVar[str] = "organisation.person_appointed.v1"

    organisation_id: str
    person_id: str
    role: str
    appointed_at: AwareDatetime


class PersonDismissed(EventData):
    """A person left their role in an organisation (followers drop what the role allowed)."""

    event_type: ClassVar[str] = "organisation.person_dismissed.v1"

    organisation_id: str
    person_id: str
    role: str
    dismissed_at: AwareDatetime
