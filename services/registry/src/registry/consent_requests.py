"""Consent that station staff record only as the driver's own statement (issue 14).

Staff cannot give or withdraw a driver's consent on their own word. They ask, and the driver
confirms the pending request in their app; or the driver's app makes a one-time code for one
purpose and answer, which the staff type in at the counter. Either way the consent is recorded
as the driver's (``by`` is the driver, channel ``station``), so a withdrawal of family_services,
which removes the family details, never comes from a station alone.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from registry.consent import ConsentAndFamily
from registry.domain import Conflict, ConsentPurpose, NotFound, RegistryError, new_id
from registry.records import Actor, DriverRecords
from registry.store.consent_requests import ConsentRequestStore

# A request waits for the driver to open the app; a code is typed in at the counter at once.
REQUEST_TTL = timedelta(hours=24)
CODE_TTL = timedelta(minutes=10)
# 8 characters of 32 (no 0/O, 1/I): 40 bits, single use, bound to one driver, purpose, answer.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_OPEN_LISTED = 50


class NotConfirmed(RegistryError):
    """The driver's confirmation is missing: no such code, used, expired or for another answer."""

    code = "not_confirmed_by_driver"


class RequestClosed(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(f"the consent request is {status}", code="consent_request_closed")


@dataclass(frozen=True)
class ConsentAsked:
    request_id: str
    driver_id: str
    purpose: ConsentPurpose
    granted: bool
    status: str
    station_id: str | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> ConsentAsked:
        return cls(
            request_id=doc["_id"],
            driver_id=doc["driver_id"],
            purpose=doc["purpose"],
            granted=doc["granted"],
            status=doc["status"],
            station_id=doc.get("station_id"),
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
            decided_at=doc.get("decided_at"),
        )


def _digest(driver_id: str, code: str) -> str:
    return hashlib.sha256(f"{driver_id}:{code.strip().upper()}".encode()).hexdigest()


class ConsentRequests:
    def __init__(
        self, records: DriverRecords, store: ConsentRequestStore, consent: ConsentAndFamily
    ) -> None:
        self._records = records
        self._store = store
        self._consent = consent

    async def ask(
        self,
        driver_id: str,
        purpose: ConsentPurpose,
        granted: bool,
        staff: Actor,
        station_id: str | None,
    ) -> ConsentAsked:
        """A pending request the driver confirms or declines in the app."""
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        now = self._records.now()
        doc = {
            "_id": new_id("crq"),
            "kind": "request",
            "driver_id": driver_id,
            "purpose": purpose,
            "granted": granted,
            "status": "pending",
            "station_id": station_id,
            "requested_by": staff.sub,
            "created_at": now,
            "expires_at": now + REQUEST_TTL,
        }
        await self._store.insert(doc)
        return ConsentAsked.of(doc)

    async def open_requests(self, driver_id: str) -> list[ConsentAsked]:
        found = await self._store.open_of(driver_id, self._records.now(), MAX_OPEN_LISTED)
        return [ConsentAsked.of(doc) for doc in found]

    async def confirm(self, driver_id: str, request_id: str, driver: Actor) -> ConsentAsked:
        """The driver's confirmation: the consent is recorded as theirs, once."""
        doc = await self._settle(driver_id, request_id, "confirmed", confirmed_by=driver.sub)
        await self._consent.set_consent(
            driver_id, doc["purpose"], doc["granted"], "station", driver
        )
        return ConsentAsked.of(doc)

    async def decline(self, driver_id: str, request_id: str, driver: Actor) -> ConsentAsked:
        return ConsentAsked.of(
            await self._settle(driver_id, request_id, "declined", confirmed_by=driver.sub)
        )

    async def offer_code(
        self, driver_id: str, purpose: ConsentPurpose, granted: bool, driver: Actor
    ) -> tuple[str, ConsentAsked]:
        """A one-time code the driver shows the staff: it confirms this purpose and answer."""
        driver_record = await self._records.get_driver(driver_id)
        driver_record.require_not_erased()
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        now = self._records.now()
        doc = {
            "_id": new_id("ccd"),
            "kind": "code",
            "driver_id": driver_id,
            "purpose": purpose,
            "granted": granted,
            "status": "offered",
            "code_digest": _digest(driver_id, code),
            "driver_sub": driver.sub,
            "created_at": now,
            "expires_at": now + CODE_TTL,
        }
        await self._store.insert(doc)
        return code, ConsentAsked.of(doc)

    async def record_with_code(
        self,
        driver_id: str,
        purpose: ConsentPurpose,
        granted: bool,
        *,
        code: str,
        staff: Actor,
        station_id: str | None,
    ) -> ConsentAsked:
        """Staff record what the driver's code confirms, and nothing else."""
        match = {
            "driver_id": driver_id,
            "kind": "code",
            "code_digest": _digest(driver_id, code),
            "purpose": purpose,
            "granted": granted,
        }
        now = self._records.now()
        doc = await self._store.settle(match, now, "used", used_by=staff.sub, station_id=station_id)
        if doc is None:
            raise NotConfirmed("the driver's code does not confirm this (wrong, used or expired)")
        by = Actor(sub=doc["driver_sub"], role="driver")
        await self._consent.set_consent(driver_id, purpose, granted, "station", by)
        return ConsentAsked.of(doc)

    async def _settle(
        self, driver_id: str, request_id: str, status: str, **recorded: Any
    ) -> dict[str, Any]:
        match = {"_id": request_id, "driver_id": driver_id, "kind": "request"}
        doc = await self._store.settle(match, self._records.now(), status, **recorded)
        if doc is not None:
            return doc
        found = await self._store.get(driver_id, request_id)
        if found is None or found.get("kind") != "request":
            raise NotFound("consent request")
        raise RequestClosed("expired" if found["status"] == "pending" else found["status"])

    async def forget(self, driver_id: str) -> None:
        """Erasure: the requests and codes go with the driver's personal data."""
        await self._store.delete_of(driver_id)
