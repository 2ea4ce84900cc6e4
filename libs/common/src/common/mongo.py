"""The MongoDB client factory and index management (PyMongo's async API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, OperationFailure
from pymongo.write_concern import WriteConcern

from common.settings import ServiceSettings

Document = dict[str, Any]


def create_client(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """One client per process; majority writes so an acknowledged effect survives a failover."""
    return AsyncMongoClient(
        settings.mongo_url,
        w="majority",
        tz_aware=True,
        serverSelectionTimeoutMS=settings.mongo_timeout_ms,
        connectTimeoutMS=settings.mongo_timeout_ms,
        appname=settings.service_name,
    )


def database(
    client: AsyncMongoClient[Document], settings: ServiceSettings
) -> AsyncDatabase[Document]:
    return client.get_database(settings.mongo_db, write_concern=WriteConcern(w="majority"))


@dataclass(frozen=True)
class Indexes:
    collection: str
    models: Sequence[IndexModel] = field(default_factory=tuple)
    # The indexed date field by which ``common.retention`` purges records past their retention:
    # the store has no TTL indexes to do it.
    purge_by: str | None = None
    # Names of indexes an earlier version created and this one no longer reads by: dropped at
    # start-up, since every index is written on every insert and update of its collection.
    retired: Sequence[str] = field(default_factory=tuple)


async def ensure_indexes(db: AsyncDatabase[Document], specs: Sequence[Indexes]) -> None:
    """Create every index a service relies on and drop the retired ones; safe to run at each
    start-up."""
    for spec in specs:
        collection = db[spec.collection]
        if spec.models:
            await collection.create_indexes(list(spec.models))
        if spec.retired:
            present = {index["name"] async for index in await collection.list_indexes()}
            for name in present.intersection(spec.retired):
                try:
                    await collection.drop_index(name)
                except OperationFailure as exc:
                    # Another replica starting at the same time dropped it first.
                    if exc.code != INDEX_NOT_FOUND:
                        raise


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")


DUPLICATE_KEY = 11000  # MongoDB's error code for a unique index violation
INDEX_NOT_FOUND = 27


def is_duplicate_key(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors", [])
        return bool(errors) and all(e.get("code") == DUPLICATE_KEY for e in errors)
    return isinstance(exc, OperationFailure) and exc.code == DUPLICATE_KEY


async def insert_once(collection: AsyncCollection[Document], doc: Document) -> bool:
    """Insert ``doc``; False when its ``_id`` or another unique key is taken already.

    Most writes here are keyed by an id derived from their cause, so "already there" is a
    redelivery or a race lost, not a failure.
    """
    try:
        await collection.insert_one(doc)
    except Exception as exc:
        if not is_duplicate_key(exc):
            raise
        return False
    return True


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")


def conflicting_paths(update: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, str]]:
    """Pairs of paths one update document names twice (the same path, or one inside the
    other, under any operators); MongoDB refuses such an update with ConflictingUpdateOperators
    (code 40), and an upsert's ``$setOnInsert`` is the usual way to write one by accident."""
    if not isinstance(update, Mapping):
        return []  # an aggregation-pipeline update has stages, not operator paths
    paths = [
        f"{op} {path}"
        for op, fields in update.items()
        if op.startswith("$") and isinstance(fields, Mapping)
        for path in fields
    ]
    return [
        (a, b)
        for i, a in enumerate(paths)
        for b in paths[i + 1 :]
        if _overlap(a.split(" ", 1)[1], b.split(" ", 1)[1])
    ]


def announced_after(field: str, at: datetime) -> Document:
    """A filter for documents whose ``field`` (when a fact was last announced) is not after
    ``at``, or unset: a fact announced at ``at`` applies over older ones only. Records of one key
    arrive in order, but a dead letter replayed later lands at the end of its topic, after newer
    changes it must not undo. (Equal times: the later arrival wins, as in order.)"""
    return {"$or": [{field: {"$lte": at}}, {field: None}]}


FACTS_AT = "facts_at"


async def follow_newer(
    collection: AsyncCollection[Document],
    doc_id: Any,
    facts: Mapping[str, Mapping[str, Any]],
    at: datetime,
    *,
    upsert: bool = False,
    unset_none: bool = True,
) -> list[str]:
    """Store facts another service announced, each group only over an older announcement of
    the same group; returns the groups stored.

    ``facts`` maps a group (``"fleet"``) to the fields it sets (``{"fleet_id": …, "fleet": …}``);
    a field whose value is None is unset (``unset_none``) or set to None. Each group keeps its
    own time (``facts_at.<group>``), so a dead letter replayed after newer changes does not undo
    them, while a change that was dead-lettered and never applied still applies when replayed
    after changes to other groups. One conditional update per group (a driver's update names
    one or two); with ``upsert``, a document kept with a newer time of the group wins (the
    insert meets the unique ``_id`` and nothing is written).
    """
    stored: list[str] = []
    for group, fields in facts.items():
        stamp = f"{FACTS_AT}.{group}"
        sets: Document = {stamp: at}
        unsets: Document = {}
        for name, value in fields.items():
            if value is None and unset_none:
                unsets[name] = ""
            else:
                sets[name] = value
        update: Document = {"$set": sets}
        if unsets:
            update["$unset"] = unsets
        try:
            result = await collection.update_one(
                {"_id": doc_id, **announced_after(stamp, at)}, update, upsert=upsert
            )
        except DuplicateKeyError:
            continue  # the document holds a newer announcement of this group
        if result.matched_count or result.upserted_id is not None:
            stored.append(group)
    return stored


def set_with_defaults(fields: Document, defaults: Document) -> Document:
    """An upsert's update: ``$set`` the fields, and ``$setOnInsert`` each default the fields
    do not already name, so a new document still gets it without a conflicting update."""
    update: Document = {"$set": fields}
    on_insert = {k: v for k, v in defaults.items() if not any(_overlap(k, f) for f in fields)}
    if on_insert:
        update["$setOnInsert"] = on_insert
    return update


TRANSIENT_STORE_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure,)
