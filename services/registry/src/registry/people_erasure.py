"""Erasing a person who is not a driver (a social-worker secretary, an instructor, an official):
their name and every role they hold go; the record keeps its pseudonymous id, kind and dates.

Like a driver's erasure (lifecycle.py) it takes two people (four_eyes.py) and runs in steps
that are each safe to repeat: (1) the person's document loses the name and is marked
``erasure: pending`` in one update; (2) each appointment is announced ended
(``organisation.person_dismissed.v1``, so followers drop what the role allowed), then deleted;
(3) stored answers to retried requests that named the person are deleted; (4) the mark goes. A
crash after (1) is finished when the registry next starts.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from common.events.registry import PersonDismissed
from common.outbox import push_outbox
from registry.domain import NotFound
from registry.groups import Appointment, Person
from registry.records import DriverRecords
from registry.store.organisations import OrganisationStore
from registry.store.people import PeopleStore

Document = dict[str, Any]


class PeopleErasure:
    def __init__(
        self,
        records: DriverRecords,
        people: PeopleStore,
        organisations: OrganisationStore,
        idempotency_keys: AsyncCollection[Document] | None,
    ) -> None:
        self._records = records
        self._people = people
        self._orgs = organisations
        self._idempotency_keys = idempotency_keys

    async def erase(self, person_id: str) -> Person:
        person = await self._people.get(person_id)
        if person is None:
            raise NotFound("person")
        if not person.erased:
            await self._people.begin_erasure(person_id, self._records.now())
        await self._finish(person_id)
        erased = await self._people.get(person_id)
        assert erased is not None  # people are never deleted
        return erased

    async def finish_pending(self) -> int:
        """Complete erasures a crash interrupted (run at start-up)."""
        pending = await self._people.pending_erasures()
        for person_id in pending:
            await self._finish(person_id)
        return len(pending)

    async def _finish(self, person_id: str) -> None:
        for appointment in await self._people.of_person(person_id):
            # Announced before the appointment goes, as a dismissal is: a crash between the two
            # repeats the announcement (same id) rather than leave a role without one.
            await self._announce_ended(appointment)
            await self._people.dismiss(
                appointment.organisation_id, person_id, appointed_at=appointment.appointed_at
            )
        if self._idempotency_keys is not None:
            # The stored answer to a retried "add a person" holds the name.
            await self._idempotency_keys.delete_many({"answer.person_id": person_id})
        await self._people.finish_erasure(person_id)

    async def _announce_ended(self, appointment: Appointment) -> None:
        org_id, person_id = appointment.organisation_id, appointment.person_id
        event = PersonDismissed(
            organisation_id=org_id,
            person_id=person_id,
            role=appointment.role,
            dismissed_at=self._records.now(),
        )
        entry = self._records.outbox(event, org_id, f"{org_id}:{person_id}:erased")
        await self._orgs.collection.update_one({"_id": org_id}, push_outbox({}, entry))
        await self._records.announce_in(self._orgs.collection, org_id)
