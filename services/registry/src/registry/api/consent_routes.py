"""HTTP for consents and the family details the family_services consent allows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from common.auth import Principal
from common.authz import require_scope
from common.problems import Problem
from registry.api.consent_schemas import (
    ChildView,
    ConsentRequest,
    ConsentsView,
    FamilyRequest,
    FamilyView,
)
from registry.api.dependencies import (
    RegistryDep,
    actor,
    visible,
)
from registry.consent import ChildInput, FamilyInput
from registry.domain import (
    CONSENT_PURPOSES,
    ConsentPurpose,
    Driver,
)
from registry.service import Registry

router = APIRouter(prefix="/v1", tags=["consent and family"])

HIDDEN_FROM_STATIONS = frozenset({"party_life"})


@router.get(
    "/drivers/{driver_id}/consents",
    response_model=ConsentsView,
    summary="Consents per purpose, with when and through which channel",
)
async def get_consents(
    driver_id: str,
    principal: Annotated[
        Principal, Depends(require_scope("drivers:read", or_roles=("station", "driver")))
    ],
    registry: RegistryDep,
) -> ConsentsView:
    driver = await visible(registry, principal, driver_id)
    if principal.role != "station":
        return ConsentsView(
            driver_id=driver_id,
            current=dict(driver.consents),
            history=driver.consent_history,
            purposes=list(CONSENT_PURPOSES),
        )
    # The counter asks drivers for the other purposes; whether one joins party life in the
    # app is the driver's political choice, and tells staff who is a party member.
    return ConsentsView(
        driver_id=driver_id,
        current={p: c for p, c in driver.consents.items() if p not in HIDDEN_FROM_STATIONS},
        history=[c for c in driver.consent_history if c.purpose not in HIDDEN_FROM_STATIONS],
        purposes=[p for p in CONSENT_PURPOSES if p not in HIDDEN_FROM_STATIONS],
    )


@router.put(
    "/drivers/{driver_id}/consents/{purpose}",
    response_model=ConsentsView,
    summary="Give or withdraw consent for a purpose (withdrawing family_services erases family)",
)
async def set_consent(
    driver_id: str,
    purpose: ConsentPurpose,
    body: ConsentRequest,
    principal: Annotated[
        Principal, Depends(require_scope("drivers:write", or_roles=("station", "driver")))
    ],
    registry: RegistryDep,
) -> ConsentsView:
    if principal.role == "station":
        # Staff record a consent only as the driver's own statement (issue 14): the driver
        # confirms a request in the app, or gives a one-time code from it.
        raise Problem(
            403,
            "Forbidden",
            "station staff record consent only with the driver's confirmation: "
            f"POST /v1/drivers/{driver_id}/consent-requests",
        )
    await visible(registry, principal, driver_id)
    driver = await registry.consent.set_consent(
        driver_id, purpose, body.granted, body.channel, actor(principal)
    )
    return ConsentsView(
        driver_id=driver_id,
        current=dict(driver.consents),
        history=driver.consent_history,
        purposes=list(CONSENT_PURPOSES),
    )


def _family_view(registry: Registry, driver: Driver) -> FamilyView:
    family = driver.family
    return FamilyView(
        driver_id=driver.driver_id,
        spouse_name=family.spouse_name.masked if family and family.spouse_name else None,
        children=[
            ChildView(
                child_id=c.child_id,
                name=c.name.masked,
                birth_year=c.birth_year,
                school_age=registry.consent.school_age(c),
            )
            for c in (family.children if family else [])
        ],
    )


@router.get(
    "/drivers/{driver_id}/family",
    response_model=FamilyView,
    summary="Spouse and children, names masked (full names: the reveal endpoint)",
)
async def get_family(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_scope("drivers:read", or_roles=("driver",)))],
    registry: RegistryDep,
) -> FamilyView:
    return _family_view(registry, await visible(registry, principal, driver_id))


@router.put(
    "/drivers/{driver_id}/family",
    response_model=FamilyView,
    summary="Record spouse and children (needs the family_services consent: 409 without)",
    description=(
        "Children keep their `child_id` when it is sent back (the points service's "
        "school-admission statements refer to it); children left out are removed."
    ),
)
async def set_family(
    driver_id: str,
    body: FamilyRequest,
    principal: Annotated[Principal, Depends(require_scope("drivers:write", or_roles=("driver",)))],
    registry: RegistryDep,
) -> FamilyView:
    await visible(registry, principal, driver_id)
    family = FamilyInput(
        spouse_name=body.spouse_name,
        children=[ChildInput(c.name, c.birth_year, c.child_id) for c in body.children],
    )
    driver = await registry.consent.set_family(driver_id, family, actor(principal))
    return _family_view(registry, driver)


@router.delete("/drivers/{driver_id}/family", status_code=204, summary="Remove all family details")
async def clear_family(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_scope("drivers:write", or_roles=("driver",)))],
    registry: RegistryDep,
) -> Response:
    await visible(registry, principal, driver_id)
    await registry.consent.clear_family(driver_id, actor(principal))
    return Response(status_code=204)
