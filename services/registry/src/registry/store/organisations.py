"""The ``organisations`` collection: service and volunteer teams, the union, party branches.

Memberships live on the driver document (``memberships``), so joining is one atomic update of
the driver and erasure removes them with the rest of the driver's personal data.
"""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from registry.groups import Organisation, OrganisationKind
from registry.store.tree import subtree_ids, subtree_query

Document = dict[str, Any]

ORGANISATIONS = "organisations"

INDEXES = [
    Indexes(
        ORGANISATIONS,
        (
            IndexModel([("kind", 1), ("_id", 1)], name="kind"),
            IndexModel([("ancestor_ids", 1), ("_id", 1)], name="subtree"),
        ),
    )
]


def _from_doc(doc: Document) -> Organisation:
    return Organisation.model_validate(
        {
            **{k: v for k, v in doc.items() if k not in ("_id", "outbox")},
            "organisation_id": doc["_id"],
        }
    )


def _to_doc(organisation: Organisation) -> Document:
    doc = organisation.model_dump(mode="python", exclude_none=True)
    doc["_id"] = doc.pop("organisation_id")
    return doc


class OrganisationStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ORGANISATIONS]

    async def insert(
        self, organisation: Organisation, outbox: list[Document] | None = None
    ) -> None:
        doc = _to_doc(organisation)
        if outbox:
            doc["outbox"] = outbox
        await self.collection.insert_one(doc)

    async def raw(self, organisation_id: str) -> Document | None:
        return await self.collection.find_one({"_id": organisation_id}, {"outbox": 0})

    async def subtree(
        self, root_id: str, *, kind: OrganisationKind | None, after: str | None, limit: int
    ) -> list[Organisation]:
        query: Document = subtree_query(root_id)
        if kind:
            query["kind"] = kind
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def subtree_ids(self, root_id: str) -> list[str]:
        return await subtree_ids(self.collection, root_id)

    async def count_branch_types(self, root_id: str | None = None) -> dict[str, int]:
        query: Document = subtree_query(root_id) if root_id else {}
        counts: dict[str, int] = {}
        async for doc in self.collection.find(
            {**query, "branch_type": {"$exists": True}}, {"branch_type": 1}
        ):
            counts[doc["branch_type"]] = counts.get(doc["branch_type"], 0) + 1
        return counts

    async def count_by_kind(self, root_id: str | None = None) -> dict[str, int]:
        query: Document = subtree_query(root_id) if root_id else {}
        counts: dict[str, int] = {}
        async for doc in self.collection.find(query, {"kind": 1}):
            counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
        return counts

    async def insert_many_raw(self, organisations: list[Organisation]) -> None:
        await self.collection.insert_many([_to_doc(o) for o in organisations], ordered=False)

    async def get(self, organisation_id: str) -> Organisation | None:
        doc = await self.collection.find_one({"_id": organisation_id})
        return _from_doc(doc) if doc else None

    async def page(
        self, *, kind: OrganisationKind | None, after: str | None, limit: int
    ) -> list[Organisation]:
        query: Document = {}
        if kind:
            query["kind"] = kind
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_from_doc(doc) async for doc in cursor]
