"""Four eyes in the registry (``common.approvals``): erasing a driver's or a person's personal
data starts only once a second security officer (``drivers:erase``) approves what the first
one asked.

The erasure is safe to repeat, so a run repeated after a crash changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.approvals import ApprovalRequest, Area, CommandRefused, Proposal, ScopeChecker
from registry.domain import RegistryError
from registry.records import Actor
from registry.service import Registry

ERASURE = "erasure"
PERSON_ERASURE = "person_erasure"
# The command of each area names its subject by this field.
SUBJECT_FIELD = {ERASURE: "driver_id", PERSON_ERASURE: "person_id"}


def erasure_proposal(area: str, subject: str, reason: str, request_key: str | None) -> Proposal:
    """What the first security officer asks: erase ``subject``'s personal data, for ``reason``."""
    return Proposal(
        area=area,
        command={SUBJECT_FIELD[area]: subject, "reason": reason},
        reason=reason,
        summary=f"erase the personal data of {subject}",
        subject=subject,
        request_key=request_key,
    )


def registry_areas(registry: Registry) -> list[Area]:
    async def erase(request: ApprovalRequest) -> Mapping[str, Any]:
        driver_id = request.command["driver_id"]
        # The maker asked for it; the access log and the event name who did.
        maker = Actor(sub=request.maker, role="operator")
        try:
            driver = await registry.lifecycle.erase(driver_id, request.command["reason"], maker)
        except RegistryError as exc:
            raise CommandRefused(exc.message or type(exc).__name__) from exc
        return {"driver_id": driver.driver_id, "erased": driver.erased}

    async def erase_person(request: ApprovalRequest) -> Mapping[str, Any]:
        try:
            person = await registry.people_erasure.erase(request.command["person_id"])
        except RegistryError as exc:
            raise CommandRefused(exc.message or type(exc).__name__) from exc
        return {"person_id": person.person_id, "erased": person.erased}

    return [
        Area(ERASURE, ScopeChecker("drivers:erase"), erase),
        # People who are not drivers (secretaries, instructors): the same two security officers.
        Area(PERSON_ERASURE, ScopeChecker("drivers:erase"), erase_person),
    ]
