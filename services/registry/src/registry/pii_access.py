"""Full personal values for callers with ``pii:read``, each access recorded before it is shown."""

from __future__ import annotations

from typing import Any

from registry.domain import NotFound, is_school_age
from registry.oversight import AccessRecord, RevealField, RevealPurpose
from registry.records import Actor, DriverRecords


class PiiAccess:
    def __init__(self, records: DriverRecords) -> None:
        self._records = records

    async def reveal(
        self,
        driver_id: str,
        field_name: RevealField,
        purpose: RevealPurpose,
        case_ref: str | None,
        actor: Actor,
    ) -> Any:
        """A full value for a caller with ``pii:read``; the access is recorded first."""
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        if field_name == "national_id" and (
            driver.national_id is None or not driver.national_id.enc
        ):
            raise NotFound("national ID number on record")
        if field_name == "phone" and driver.phone is None:
            raise NotFound("phone number on record")
        if field_name == "family" and driver.family is None:
            raise NotFound("family on record")
        await self._records.audit(driver_id, field_name, purpose, case_ref, actor)
        pii = self._records.pii
        if field_name == "national_id":
            assert driver.national_id is not None and driver.national_id.enc is not None
            return pii.decrypt("national_id", driver.national_id.enc)
        if field_name == "phone":
            assert driver.phone is not None
            return pii.decrypt("phone", driver.phone.enc)
        assert driver.family is not None
        return {
            "spouse_name": self._records.unseal(driver.family.spouse_name),
            "children": [
                {
                    "child_id": c.child_id,
                    "name": self._records.unseal(c.name),
                    "birth_year": c.birth_year,
                    "school_age": is_school_age(c.birth_year, self._records.now().date()),
                }
                for c in driver.family.children
            ],
        }

    async def access_records(
        self, *, driver_id: str | None, after: str | None, limit: int
    ) -> list[AccessRecord]:
        return await self._records.access_log.page(driver_id=driver_id, after=after, limit=limit)
