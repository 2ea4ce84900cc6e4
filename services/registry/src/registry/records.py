"""What every registry use case shares: the driver records, their outbox and personal values.

Every change to a driver is one single-document update that also pushes the event announcing
it into the document's outbox; the relay publishes it afterwards (or its sweeper, when the
announcement fails). Personal values are stored protected (keyed hash, ciphertext, mask) and
every full reveal leaves an access record. The use cases receive one :class:`DriverRecords`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from common.clock import Clock, utc_now
from common.events import EventData, new_event
from common.events.registry import DriverUpdated
from common.logging import get_logger
from common.outbox import RelayRef, no_relay, outbox_entry, publish_now
from common.pii import PiiProtector, ProtectedValue, mask_national_id, mask_phone
from registry.domain import Driver, DriverNotFound, NationalIdRecord, SealedText, mask_name
from registry.oversight import AccessRecord, RevealField, RevealPurpose
from registry.store.access_log import AccessLog
from registry.store.drivers import DriverStore

Document = dict[str, Any]
log = get_logger(__name__)

EVENT_SOURCE = "driverhome/registry"
TOPIC = "registry.events"


@dataclass(frozen=True)
class Actor:
    """Who acts: recorded in consents, verifications, reviews and the access log."""

    sub: str
    role: str
    partner_id: str | None = None


@dataclass
class Changes:
    """A driver update being assembled: what to set and unset, and the changed field names."""

    set_: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def put(self, name: str, value: Any, *, path: str | None = None) -> None:
        if value is None:
            self.unset.append(path or name)
        else:
            self.set_[path or name] = value
        if name not in self.names:
            self.names.append(name)

    def grouping(self) -> dict[str, str]:
        """New values of the grouping fields that changed (fleet and grid ids and the kind of
        driver are not PII)."""
        return {
            name: self.set_[name]
            for name in ("fleet_id", "fleet", "grid_id", "kind")
            if name in self.names and name in self.set_
        }


class DriverRecords:
    def __init__(
        self,
        drivers: DriverStore,
        access_log: AccessLog,
        pii: PiiProtector,
        relay: RelayRef = no_relay,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.drivers = drivers
        self.access_log = access_log
        self.pii = pii
        # Read when announcing: the relay starts after the use cases are wired.
        self._relay = relay
        self.now = clock

    async def get_driver(self, driver_id: str) -> Driver:
        driver = await self.drivers.by_id(driver_id)
        if driver is None:
            raise DriverNotFound(driver_id)
        return driver

    # ------------------------------------------------------------------ outbox

    def outbox(self, data: EventData, subject: str, event_id: str | None = None) -> dict[str, Any]:
        """An entry for a document's outbox; the subject is the driver, organisation or grid.
        A fixed ``event_id`` makes a step that may be repeated announce the same event."""
        event = new_event(data, source=EVENT_SOURCE, subject=subject, event_id=event_id)
        return outbox_entry(TOPIC, event)

    async def write(
        self,
        driver_id: str,
        changes: Changes,
        event: EventData,
        *,
        when: dict[str, Any] | None = None,
        push: dict[str, Any] | None = None,
        at_version: datetime | None = None,
    ) -> bool:
        """Apply the changes to a driver not erased, with the event in the same update.
        ``at_version``: only if the driver is still at this ``updated_at`` (an erasure, as any
        write, moves it on); the filter is then the unique ``(_id, updated_at)``."""
        pinned = {"updated_at": at_version} if at_version is not None else {"erased": False}
        written = await self.drivers.update(
            driver_id,
            when={**pinned, **(when or {})},
            set_=changes.set_,
            unset=changes.unset,
            push=push,
            outbox=[self.outbox(event, driver_id)],
        )
        if written:
            await self.announce(driver_id)
        return written

    async def announce_change(self, driver_id: str, names: list[str]) -> None:
        now = self.now()
        event = DriverUpdated(driver_id=driver_id, changed_fields=names, updated_at=now)
        await self.write(driver_id, Changes(set_={"updated_at": now}), event)

    async def announce(self, driver_id: str) -> None:
        """Publish a driver's pending events, after filing the driver in ``lookups`` as the
        document is now (a registration files before inserting: ``announce_inserted``).

        Filed before publishing: a crash in between leaves the events in the outbox, and the
        relay's sweeper files the driver again before it publishes them (``app.py``).
        """
        await self.drivers.lookups.sync(driver_id)
        await self.announce_in(self.drivers.collection, driver_id)

    async def announce_in(self, collection: AsyncCollection[Document], doc_id: str) -> None:
        """Publish what a document's outbox holds (organisations and grids have one too)."""
        await publish_now(self._relay, collection, doc_id)

    async def announce_inserted(self, doc: Document) -> None:
        """Publish the events of a driver this call has just inserted (filed in ``lookups``
        before the insert), from the document as inserted."""
        await publish_now(self._relay, self.drivers.collection, doc["_id"], inserted=doc)

    # ------------------------------------------------------------------ personal values

    def national_id(self, number: str) -> NationalIdRecord:
        protected = self.pii.protect("national_id", number, mask_national_id(number))
        return NationalIdRecord(
            hash=protected.hash,
            enc=protected.enc,
            masked=protected.masked,
            partner_hashes=tuple(self.pii.partner_hashes("national_id", number)),
        )

    def same_national_id(self, stored: NationalIdRecord, number: str) -> bool:
        """Whether a stored record is this number, under any key it may have been hashed with."""
        if self.pii.matches(stored.hash, "national_id", number):
            return True
        return bool(
            set(stored.partner_hashes) & set(self.pii.partner_hashes("national_id", number))
        )

    def protect_phone(self, phone: str) -> ProtectedValue:
        return self.pii.protect("phone", phone, mask_phone(phone))

    def seal(self, text: str) -> SealedText:
        return SealedText(enc=self.pii.encrypt("family", text), masked=mask_name(text))

    def unseal(self, sealed: SealedText | None) -> str | None:
        return self.pii.decrypt("family", sealed.enc) if sealed else None

    async def audit(
        self,
        driver_id: str,
        field_name: RevealField,
        purpose: RevealPurpose,
        case_ref: str | None,
        actor: Actor,
    ) -> None:
        """Record who is about to see a full value, and why (before it is shown)."""
        now = self.now()
        await self.access_log.record(
            AccessRecord(
                access_id=f"acc_{int(now.timestamp() * 1_000_000):016x}{uuid.uuid4().hex[:8]}",
                driver_id=driver_id,
                field=field_name,
                purpose=purpose,
                case_ref=case_ref,
                by=actor.sub,
                role=actor.role,
                at=now,
            )
        )
