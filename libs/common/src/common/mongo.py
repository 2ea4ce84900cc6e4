"""The MongoDB client factory and index management (PyMongo's async API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
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


async def ensure_indexes(db: AsyncDatabase[Document], specs: Sequence[Indexes]) -> None:
    """Create every index a service relies on; safe to run at each start-up."""
    for spec in specs:
        if spec.models:
            await db[spec.collection].create_indexes(list(spec.models))


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")


def is_duplicate_key(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors", [])
        return bool(errors) and all(e.get("code") == 11000 for e in errors)
    return isinstance(exc, OperationFailure) and exc.code == 11000


TRANSIENT_STORE_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure,)
