"""The reads and writes a collection of tree nodes (grids, organisations) has in common: nodes
are keyed by ``_id`` (the model's own id field), kept with their outbox, paged by ``_id``."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection

from common.outbox import OUTBOX_HIDDEN, outbox_fields
from registry.store.tree import subtree_ids, subtree_query

Document = dict[str, Any]
Node = TypeVar("Node", bound=BaseModel)


class NodeStore(Generic[Node]):
    """One collection of ``model`` nodes, whose id field is ``id_field``."""

    model: type[Node]
    id_field: str

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    def from_doc(self, doc: Document) -> Node:
        fields = {k: v for k, v in doc.items() if k not in ("_id", *OUTBOX_HIDDEN)}
        return self.model.model_validate({**fields, self.id_field: doc["_id"]})

    def to_doc(self, node: Node) -> Document:
        doc = node.model_dump(mode="python", exclude_none=True)
        doc["_id"] = doc.pop(self.id_field)
        return doc

    async def insert(self, node: Node, outbox: list[Document] | None = None) -> None:
        doc = self.to_doc(node)
        if outbox:
            doc.update(outbox_fields(outbox))
        await self.collection.insert_one(doc)

    async def insert_many_raw(self, nodes: list[Node]) -> None:
        await self.collection.insert_many([self.to_doc(n) for n in nodes], ordered=False)

    async def raw(self, node_id: str) -> Document | None:
        return await self.collection.find_one({"_id": node_id}, OUTBOX_HIDDEN)

    async def get(self, node_id: str) -> Node | None:
        doc = await self.collection.find_one({"_id": node_id})
        return self.from_doc(doc) if doc else None

    async def subtree_ids(self, root_id: str) -> list[str]:
        return await subtree_ids(self.collection, root_id)

    async def find_page(self, query: Document, *, after: str | None, limit: int) -> list[Node]:
        """The nodes matching ``query`` in ``_id`` order, after the cursor."""
        if after:
            query = {**query, "_id": {"$gt": after}}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [self.from_doc(doc) async for doc in cursor]

    async def count_by(
        self, field: str, root_id: str | None, *, missing: str | None = None
    ) -> dict[str, int]:
        """Nodes (of a subtree, or all) per value of ``field``: those without it under
        ``missing``, or not counted when ``missing`` is None."""
        query: Document = subtree_query(root_id) if root_id else {}
        if missing is None:
            query = {**query, field: {"$exists": True}}
        counts: dict[str, int] = {}
        async for doc in self.collection.find(query, {field: 1}):
            value = doc[field] if missing is None else doc.get(field) or missing
            counts[value] = counts.get(value, 0) + 1
        return counts
