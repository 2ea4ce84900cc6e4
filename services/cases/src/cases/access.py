"""Who may see which case, and which acts a caller may make (the actors its token holds).

Someone else's case answers 404 exactly like a missing one, so case ids cannot be probed.
"""

from __future__ import annotations

from cases import domain
from cases.case import Case
from cases.domain import CaseNotFound, NotPermitted
from cases.store.cases import NOBODY, CaseListing, CaseStore
from cases.store.dossiers import DossierStore
from common.auth import Principal

# Actors who see every case.
OVERSIGHT = frozenset({"supervisor", "dispatcher", "revisit"})
# District staff without a case role read cases with this scope (common.authz: registry clerks
# and auditors), not any operator (a notify editor reads none).
DISTRICT_READ = "drivers:read"


def actors_of(principal: Principal) -> set[str]:
    if principal.role == "driver":
        return {"driver"}
    if principal.role == "station":
        return {"station"}
    if principal.role == "operator":
        return {actor for scope, actor in domain.SCOPES.items() if principal.has_scope(scope)}
    return set()


def refuse_driver_filters(principal: Principal) -> None:
    """A respondent narrows no list by driver or unit: the complaints such a list returns were
    filed by that driver (or a member of that unit), which tells the respondent who complains
    without the driver's ``identity_consent``, the driver's decision alone."""
    if principal.role == "partner":
        raise NotPermitted(
            "a respondent may not filter cases by driver_id, unit or unit_id: who complains is "
            "shown only where the driver agreed to be named"
        )


def sees_duplicates(principal: Principal, driver_id: str, broker_id: str | None = None) -> bool:
    """Whether intake shows this caller the driver's open cases of the new case's category: the
    driver's own app, caseworkers who see every case, and the care broker the driver is named
    to (``broker_id``, from the dossier as intake found it), who sees the driver's cases anyway.
    A station or partner opening a case for a driver would otherwise learn in which (sensitive)
    categories the driver has cases."""
    if principal.role == "driver":
        return principal.driver_id == driver_id
    if principal.role != "operator":
        return False
    actors = actors_of(principal)
    if actors & OVERSIGHT:
        return True
    return "care" in actors and broker_id is not None and broker_id == principal.actor


def _own_listing(principal: Principal) -> CaseListing:
    """Drivers, stations and partners list only the cases that are theirs."""
    if principal.role == "driver":
        return CaseListing(driver_id=principal.driver_id or NOBODY)
    if principal.role == "station":
        return CaseListing(station_id=principal.station_id or NOBODY)
    if not principal.has_scope("cases:respond"):
        return CaseListing(nothing=True)
    return CaseListing(respondent_id=principal.partner_id or NOBODY)


def listing_for(principal: Principal) -> CaseListing:
    """The cases a caller may list (a coarse filter; :meth:`CaseAccess.may_see` decides one)."""
    if principal.role != "operator":
        return _own_listing(principal)
    actors = actors_of(principal)
    if actors & OVERSIGHT or (not actors and principal.has_scope(DISTRICT_READ)):
        return CaseListing()
    if "handler" in actors and principal.unit_id is not None:
        return CaseListing(unit_id=principal.unit_id)
    return CaseListing(nothing=True)


def _owns(principal: Principal, case: Case) -> bool:
    """A driver's own case, a station's, or one the partner responds to."""
    if principal.role == "driver":
        return principal.driver_id is not None and case.driver_id == principal.driver_id
    if principal.role == "station":
        return principal.station_id is not None and case.station_id == principal.station_id
    return (
        principal.role == "partner"
        and principal.has_scope("cases:respond")
        and principal.partner_id is not None
        and case.respondent.get("id") == principal.partner_id
    )


class CaseAccess:
    def __init__(self, cases: CaseStore, dossiers: DossierStore) -> None:
        self._cases = cases
        self._dossiers = dossiers

    async def may_see(self, principal: Principal, case: Case) -> bool:
        if principal.role != "operator":
            return _owns(principal, case)
        actors = actors_of(principal)
        if actors & OVERSIGHT:
            return True
        if "handler" in actors and principal.unit_id in case.unit_ids:
            return True
        if "care" in actors and await self.brokers(principal, case):
            return True
        # Operators without a narrower case role (district staff) read everything.
        return not actors and principal.has_scope(DISTRICT_READ)

    async def brokers(self, principal: Principal, case: Case) -> bool:
        """Whether the caller is the care broker the case's driver is named to."""
        dossier = await self._dossiers.get(case.driver_id)
        return dossier is not None and dossier.get("broker_id") == principal.actor

    async def visible(self, principal: Principal, case_id: str) -> Case:
        case = await self._cases.get(case_id)
        if case is None or not await self.may_see(principal, case):
            raise CaseNotFound("no such case")
        return case
