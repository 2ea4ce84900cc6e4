"""What services ask the store, captured with PyMongo's command monitoring, and whether each
filter is one the local stand-in serves from an index.

The stand-in (mongo-java-server) has no ``explain``. It uses an index only when a filter names
exactly one unique index's fields, by equality or, on a single field, ``$in``
(``AbstractUniqueIndex.canHandle``); on real MongoDB that shape is an ``IDHACK`` or ``IXSCAN``
plan, never a ``COLLSCAN``. Anything else reads the whole collection there.
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


def keyed(query: dict[str, Any], unique: list[tuple[str, ...]]) -> bool:
    """Whether a filter names exactly one unique index's fields, by equality or ``$in``."""
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
