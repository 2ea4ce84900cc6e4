"""Consent per purpose, with its history, and the family details one purpose allows.

Family details are kept only while the ``family_services`` consent is given: withdrawing it
removes them in the same update, and recording them re-checks it in the same update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from common.events.registry import DriverUpdated
from registry.domain import (
    EARLIEST_CHILD_BIRTH_YEAR,
    Child,
    Conflict,
    ConsentChannel,
    ConsentPurpose,
    ConsentRequired,
    ConsentState,
    Driver,
    Family,
    InvalidDriverData,
    is_school_age,
    new_id,
)
from registry.records import Actor, Changes, DriverRecords

MAX_CONSENT_HISTORY = 200


@dataclass(frozen=True)
class ChildInput:
    name: str
    birth_year: int
    child_id: str | None = None


@dataclass(frozen=True)
class FamilyInput:
    spouse_name: str | None = None
    children: Sequence[ChildInput] = ()


class ConsentAndFamily:
    def __init__(self, records: DriverRecords) -> None:
        self._records = records

    async def set_consent(
        self,
        driver_id: str,
        purpose: ConsentPurpose,
        granted: bool,
        channel: ConsentChannel,
        actor: Actor,
    ) -> Driver:
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        now = self._records.now()
        state = ConsentState(
            purpose=purpose, granted=granted, at=now, channel=channel, by=actor.sub
        )
        changes = Changes()
        changes.put(f"consents.{purpose}", state.model_dump())
        if purpose == "family_services" and not granted:
            # Withdrawal ends the processing: the family details go with it, whatever this
            # read saw (family details written since, under the consent, go in the same write).
            changes.put("family", None)
        changes.set_["updated_at"] = now
        event = DriverUpdated(
            driver_id=driver_id,
            changed_fields=changes.names,
            updated_at=now,
            consents={purpose: granted},
        )
        if purpose == "location" and granted and driver.base_location is not None:
            # The declared base was kept back until now (the service circle counts it).
            event = event.model_copy(
                update={
                    "changed_fields": [*changes.names, "base_location"],
                    "base_location": driver.base_location,
                }
            )
        written = await self._records.write(
            driver_id,
            changes,
            event,
            push={
                "consent_history": {"$each": [state.model_dump()], "$slice": -MAX_CONSENT_HISTORY}
            },
            # A grant announces the base this read saw: written only if it is still the one.
            at_version=driver.updated_at if "base_location" in event.changed_fields else None,
        )
        if not written:
            (await self._records.get_driver(driver_id)).require_not_erased()
            raise Conflict(
                "the driver changed meanwhile; give the consent again", code="changed-meanwhile"
            )
        return await self._records.get_driver(driver_id)

    async def set_family(self, driver_id: str, family: FamilyInput, actor: Actor) -> Driver:
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        if not driver.has_consent("family_services"):
            raise ConsentRequired("family_services")
        this_year = self._records.now().year
        known_ids = {c.child_id for c in (driver.family.children if driver.family else [])}
        children = []
        for child in family.children:
            if not EARLIEST_CHILD_BIRTH_YEAR <= child.birth_year <= this_year:
                raise InvalidDriverData(
                    "birth_year", f"must be between {EARLIEST_CHILD_BIRTH_YEAR} and {this_year}"
                )
            if child.child_id is not None and child.child_id not in known_ids:
                raise InvalidDriverData("child_id", "not a child of this driver")
            children.append(
                Child(
                    child_id=child.child_id or new_id("chd"),
                    name=self._records.seal(child.name),
                    birth_year=child.birth_year,
                )
            )
        sealed = Family(
            spouse_name=self._records.seal(family.spouse_name) if family.spouse_name else None,
            children=children,
        )
        now = self._records.now()
        changes = Changes()
        changes.put("family", sealed.model_dump(exclude_none=True))
        changes.set_["updated_at"] = now
        event = DriverUpdated(driver_id=driver_id, changed_fields=["family"], updated_at=now)
        # The consent is re-checked in the same atomic update: a withdrawal in between wins.
        written = await self._records.write(
            driver_id, changes, event, when={"consents.family_services.granted": True}
        )
        if not written:
            raise ConsentRequired("family_services")
        return await self._records.get_driver(driver_id)

    async def clear_family(self, driver_id: str, actor: Actor) -> Driver:
        driver = await self._records.get_driver(driver_id)
        if driver.family is None:
            return driver
        now = self._records.now()
        changes = Changes()
        changes.put("family", None)
        changes.set_["updated_at"] = now
        event = DriverUpdated(driver_id=driver_id, changed_fields=["family"], updated_at=now)
        await self._records.write(driver_id, changes, event)
        return await self._records.get_driver(driver_id)

    def school_age(self, child: Child) -> bool:
        return is_school_age(child.birth_year, self._records.now().date())
