"""Trees kept as ancestor lists (organisations, grids): a subtree is one indexed query and a
move rewrites the moved node's and its descendants' ancestors, each with its own event.

There are no multi-document transactions: a move writes the moved node first (guarded by its
old parent), then each descendant (guarded by its old ancestors). A crash in between leaves
descendants with stale ancestors; moving the same node to the same parent again repairs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]
# Builds the outbox entry announcing one node's new place: (doc, new ancestors) -> entry.
Announce = Callable[[Document, list[str]], Document]


def subtree_query(root_id: str) -> Document:
    return {"$or": [{"_id": root_id}, {"ancestor_ids": root_id}]}


async def subtree_ids(collection: AsyncCollection[Document], root_id: str) -> list[str]:
    cursor = collection.find(subtree_query(root_id), {"_id": 1}).sort("_id", 1)
    return [doc["_id"] async for doc in cursor]


async def move_subtree(
    collection: AsyncCollection[Document],
    node: Document,
    parent_id: str | None,
    parent_ancestors: list[str],
    announce: Announce,
) -> bool:
    """Place ``node`` under ``parent_id``; False when the node changed meanwhile."""
    node_id = node["_id"]
    ancestors = [*parent_ancestors, parent_id] if parent_id else []
    moved = await collection.update_one(
        {"_id": node_id, "parent_id": node.get("parent_id")},
        {
            "$set": {"parent_id": parent_id, "ancestor_ids": ancestors},
            "$push": {"outbox": announce(node, ancestors)},
        },
    )
    if moved.matched_count != 1:
        return False
    async for doc in collection.find({"ancestor_ids": node_id}).sort("_id", 1):
        old = list(doc["ancestor_ids"])
        below = old[old.index(node_id) :]
        new = [*ancestors, *below]
        await collection.update_one(
            {"_id": doc["_id"], "ancestor_ids": old},
            {"$set": {"ancestor_ids": new}, "$push": {"outbox": announce(doc, new)}},
        )
    return True
