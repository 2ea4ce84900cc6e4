"""A service's part of a driver's erasure (issue 14, PIPL art. 47).

When the registry announces ``driver.deactivated.v1`` with ``erased: true``, each service runs
its table of :class:`Forget` steps (one per data class it holds about drivers: delete the
records, or pseudonymise the ones it must keep for figures) and then publishes its own
``<service>.erasure_completed.v1``. Every step is an idempotent bulk update, so a redelivered
announcement runs the table again and confirms again under the same event id; the registry's
receipt counts each service once.

A pseudonym replaces the driver id where a record stays (case figures, occupancy): keyed, so
nobody holding the driver id can recompute it and find the records again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from common.bus import Publisher
from common.clock import Clock, utc_now
from common.dispatch import EventHandler, typed
from common.erased_drivers import ErasedDrivers
from common.events import CloudEvent, new_event
from common.events.erasure import ErasureCompleted, completion_id
from common.events.registry import DriverDeactivated
from common.logging import get_logger
from common.outbox import OUTBOX_HIDDEN
from common.requests import IDEMPOTENCY_KEYS
from common.runtime import Runtime

log = get_logger(__name__)

Document = dict[str, Any]
Match = Callable[[str], Document]
# A record changed by someone else between reading and rewriting it is read again, this often.
_MAX_REWRITE_ROUNDS = 5
Pseudonymise = Callable[[str, str], Document]  # (driver id, pseudonym) -> update


@dataclass(frozen=True)
class Forget:
    """One data class a service holds about drivers, and what erasure does with it.

    ``match`` finds the driver's records; ``update`` (given the id and its pseudonym) rewrites
    the ones that stay (an update that replaces the matched id also makes a repeat find
    nothing).
    Without ``update`` the records are deleted.
    """

    data_class: str
    collection: str
    match: Match
    update: Pseudonymise | None = None
    # Instead of ``update``: what each record becomes, for records whose texts and actors sit
    # in nested lists an update cannot reach; written only if its ``guard`` field (a version)
    # is unchanged, else read again.
    rewrite: Callable[[Document, str, str], Document] | None = None
    guard: str | None = None


def by(name: str) -> Match:
    """The records whose field ``name`` is the driver id."""
    return lambda driver_id: {name: driver_id}


def common_steps(processed: str = "processed_events") -> list[Forget]:
    """What every service holds: stored answers to retried requests (their bodies may carry
    the driver's texts) and the dedupe markers of the driver's events (keyed by the id)."""
    return [
        Forget(
            "stored_replies",
            IDEMPOTENCY_KEYS,
            lambda d: {"$or": [{"driver_ids": d}, {"answer.driver_id": d}]},
        ),
        Forget("processed_markers", processed, by("subject")),
    ]


def keyed_pseudonym(key_b64: str) -> Callable[[str], str]:
    key = base64.b64decode(key_b64)

    def pseudonym(driver_id: str) -> str:
        digest = hmac.new(key, f"erased-driver:{driver_id}".encode(), hashlib.sha256)
        return "anon_" + digest.hexdigest()[:24]

    return pseudonym


@dataclass
class DriverErasure:
    """Runs a service's steps for one driver and confirms with ``confirmation`` on ``topic``."""

    db: AsyncDatabase[Document]
    publisher: Publisher
    service: str
    topic: str
    confirmation: type[ErasureCompleted]
    steps: Sequence[Forget]
    pseudonym: Callable[[str], str]
    kept: Sequence[str] = ()
    clock: Clock = field(default=utc_now)
    erased: ErasedDrivers | None = None

    async def erase(self, driver_id: str) -> dict[str, int]:
        """Forget the driver in every step's collection; returns counts per data class."""
        counts: dict[str, int] = {}
        for step in self.steps:
            collection = self.db[step.collection]
            query = step.match(driver_id)
            anon = self.pseudonym(driver_id)
            if step.rewrite is not None:
                changed = await _rewrite_all(collection, query, step, driver_id, anon)
            elif step.update is not None:
                update = step.update(driver_id, anon)
                changed = (await collection.update_many(query, update)).modified_count
            else:
                changed = (await collection.delete_many(query)).deleted_count
            counts[step.data_class] = counts.get(step.data_class, 0) + changed
        return counts

    async def erase_and_confirm(self, driver_id: str) -> None:
        if self.erased is not None:  # first: what arrives from now on is skipped
            await self.erased.add(driver_id)
        counts = await self.erase(driver_id)
        data = self.confirmation(
            driver_id=driver_id,
            service=self.service,
            completed_at=self.clock(),
            erased=counts,
            kept=list(self.kept),
        )
        event = new_event(
            data,
            source=f"driverhome/{self.service}",
            subject=driver_id,
            event_id=completion_id(self.service, driver_id),
        )
        await self.publisher.publish(self.topic, event)
        log.info("driver erased", service=self.service, records=sum(counts.values()))


async def _rewrite_all(
    collection: AsyncCollection[Document], query: Document, step: Forget, driver_id: str, anon: str
) -> int:
    assert step.rewrite is not None
    changed = 0
    for _ in range(_MAX_REWRITE_ROUNDS):
        docs = await collection.find(query).to_list(None)
        if not docs:
            break
        for doc in docs:
            guard = {step.guard: doc.get(step.guard)} if step.guard else {}
            new = step.rewrite(doc, driver_id, anon)
            current = doc.get(step.guard) if step.guard else None
            if step.guard and isinstance(current, int) and not isinstance(current, bool):
                # A version: moved on, so a write planned on the record as it was before the
                # erasure (pinned to that version) finds nothing, instead of putting back what
                # the erasure took out.
                new[step.guard] = current + 1
            result = await collection.replace_one({"_id": doc["_id"], **guard}, new)
            changed += result.modified_count
    return changed


def scrubbed(value: Any, driver_id: str, anon: str, texts: frozenset[str]) -> Any:
    """``value`` with every string naming the driver replaced by the pseudonym and the free
    texts (fields named in ``texts``, at any depth) emptied; pending announcements dropped."""
    if isinstance(value, dict):
        return {
            k: (None if k in texts else scrubbed(v, driver_id, anon, texts))
            for k, v in value.items()
            if k not in OUTBOX_HIDDEN
        }
    if isinstance(value, list):
        return [scrubbed(v, driver_id, anon, texts) for v in value]
    if isinstance(value, str) and driver_id in value:
        return anon
    return value


def driver_erasure(
    runtime: Runtime,
    confirmation: type[ErasureCompleted],
    steps: Sequence[Forget],
    *,
    kept: Sequence[str] = (),
    clock: Clock = utc_now,
) -> DriverErasure:
    """The erasure of the service ``runtime`` runs: its own topic, its own key's pseudonym."""
    service = runtime.settings.service_name
    pseudonym = keyed_pseudonym(runtime.settings.pii_hmac_key)
    return DriverErasure(
        db=runtime.db,
        publisher=runtime.publisher,
        service=service,
        topic=f"{service}.events",
        confirmation=confirmation,
        steps=[*steps, *common_steps()],
        pseudonym=pseudonym,
        kept=kept,
        clock=clock,
        erased=ErasedDrivers(runtime.db, pseudonym),
    )


def answering_erasure(
    handlers: dict[str, EventHandler], erasure: DriverErasure
) -> dict[str, EventHandler]:
    """A service's ``registry.events`` handlers, its deactivation handler followed by its
    erasure: what the service already did on a deactivation runs first, unchanged."""
    current = handlers.get(DriverDeactivated.event_type)

    async def on_driver_deactivated(event: CloudEvent, data: DriverDeactivated) -> None:
        if current is not None:
            await current(event, data)
        if data.erased:
            await erasure.erase_and_confirm(data.driver_id)

    return {
        **handlers,
        DriverDeactivated.event_type: typed(DriverDeactivated, on_driver_deactivated),
    }


def skipping_erased(
    handlers: dict[str, EventHandler], erasure: DriverErasure
) -> dict[str, EventHandler]:
    """Handlers that skip events about drivers this service erased (``common.erased_drivers``);
    the deactivation itself still runs, so a redelivered erasure confirms again."""
    erased = erasure.erased
    if erased is None:
        return handlers
    return {
        event_type: handler
        if event_type == DriverDeactivated.event_type
        else erased.skipping(handler, forget=erasure.erase)
        for event_type, handler in handlers.items()
    }
