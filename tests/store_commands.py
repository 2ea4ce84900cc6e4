"""What services ask the store, captured with PyMongo's command monitoring, and whether each
filter is one the local stand-in serves from an index.

The stand-in (mongo-java-server) has no ``explain``. It uses an index when a filter names
``_id`` by equality or ``$in``, whatever else it names (``MongoLauncher.IdFirstCollection``), or
exactly one unique index's fields, by equality or, on a single field, ``$in``
(``AbstractUniqueIndex.canHandle``); on real MongoDB those shapes are an ``IDHACK`` or
``IXSCAN`` plan, never a ``COLLSCAN``. Anything else reads the whole collection there (the
store's own count of how it served a collection: :func:`plans`).
"""

from __future__ import annotations

from typing import Any

from pymongo import monitoring

FILTERED = {"find": "filter", "findAndModify": "query", "count": "query"}


class Commands(monitoring.CommandListener):
    """The filters of every command sent while recording."""

    def __init__(self) -> None:
        self.recording = False
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.recording:
            return
        name, body = event.command_name, event.command
        if name in FILTERED:
            self.seen.append((name, body[name], dict(body.get(FILTERED[name]) or {})))
        for field, filter_key in (("updates", "q"), ("deletes", "q")):
            for statement in body.get(field, ()) if name in ("update", "delete") else ():
                self.seen.append((name, body[name], dict(statement[filter_key])))
        if name == "aggregate":
            self.seen.append((name, body[name], {"$aggregate": body.get("pipeline")}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _by_id(query: dict[str, Any]) -> bool:
    if "_id" not in query:
        return False
    value = query["_id"]
    if not isinstance(value, dict):
        return True
    return set(value) == {"$in"} or not any(str(k).startswith("$") for k in value)


def keyed(query: dict[str, Any], unique: list[tuple[str, ...]]) -> bool:
    """Whether a filter names ``_id`` by equality or ``$in``, or exactly one unique index's
    fields by equality or ``$in``."""
    if _by_id(query):
        return True
    for fields in unique:
        if set(query) != set(fields):
            continue
        operators = [v for v in query.values() if isinstance(v, dict)]
        if not operators:
            return True
        return len(fields) == 1 and all(set(v) == {"$in"} for v in operators)
    return False


async def unique_indexes(db: Any, collections: list[str]) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for name in collections:
        specs = [spec async for spec in await db[name].list_indexes()]
        out[name] = [
            tuple(spec["key"]) for spec in specs if spec.get("unique") or spec["name"] == "_id_"
        ]
    return out


async def plans(db: Any, collection: str) -> dict[str, int]:
    """How the local stand-in has served ``collection``'s queries so far: from ``_id`` first,
    from another unique index, or by reading every document (its ``driverhomePlans`` command)."""
    answer = await db.command("driverhomePlans", collection)
    return {key: int(answer[key]) for key in ("id_first", "unique_index", "scan")}
