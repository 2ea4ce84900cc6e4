"""Trees kept as ancestor lists (organisations, grids): a subtree is one indexed query and a
move rewrites the moved node's and its descendants' ancestors, each with its own event.

There are no multi-document transactions, so a move is a journalled plan (``tree_moves``,
registry/tree_moves.py) applied node by node. Each node records the sequence number of the
last move that placed it (``move_seq``); a step writes a node only while its ``move_seq`` is
older than the move's, and pushes the node's announcement in the same update. So a step
repeated after a crash, or by a second process finishing the same plan, changes nothing and
announces nothing twice, and a stale process can never undo a later move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from common.outbox import OUTBOX_HIDDEN, push_outbox

Document = dict[str, Any]


def subtree_query(root_id: str) -> Document:
    return {"$or": [{"_id": root_id}, {"ancestor_ids": root_id}]}


async def subtree_ids(collection: AsyncCollection[Document], root_id: str) -> list[str]:
    cursor = collection.find(subtree_query(root_id), {"_id": 1}).sort("_id", 1)
    return [doc["_id"] async for doc in cursor]


def not_placed_by(seq: int) -> Document:
    """Nodes no move numbered ``seq`` or later has placed yet (older nodes have no number)."""
    return {"$or": [{"move_seq": {"$lt": seq}}, {"move_seq": {"$exists": False}}]}


async def place_root(
    collection: AsyncCollection[Document],
    node_id: str,
    parent_id: str | None,
    ancestors: list[str],
    *,
    seq: int,
    entry: Document,
) -> bool:
    """Put the moved node under its new parent; False when this move placed it already."""
    placed = await collection.update_one(
        {"_id": node_id, **not_placed_by(seq)},
        push_outbox(
            {"$set": {"parent_id": parent_id, "ancestor_ids": ancestors, "move_seq": seq}},
            entry,
        ),
    )
    return placed.modified_count == 1


async def unplaced_descendants(
    collection: AsyncCollection[Document], node_id: str, seq: int
) -> list[Document]:
    """The moved node's descendants this move has not placed yet, without their outboxes."""
    query = {"ancestor_ids": node_id, **not_placed_by(seq)}
    return await collection.find(query, OUTBOX_HIDDEN).sort("_id", 1).to_list(None)


def ancestors_after(doc: Document, node_id: str, root_ancestors: list[str]) -> list[str]:
    """A descendant's ancestors once ``node_id`` sits below ``root_ancestors``."""
    old = list(doc["ancestor_ids"])
    return [*root_ancestors, *old[old.index(node_id) :]]


async def place_descendant(
    collection: AsyncCollection[Document],
    doc: Document,
    ancestors: list[str],
    *,
    seq: int,
    entry: Document,
) -> bool:
    """Rewrite one descendant's ancestors (guarded by the ones it was read with)."""
    placed = await collection.update_one(
        {"_id": doc["_id"], "ancestor_ids": doc["ancestor_ids"], **not_placed_by(seq)},
        push_outbox({"$set": {"ancestor_ids": ancestors, "move_seq": seq}}, entry),
    )
    return placed.modified_count == 1


async def settle_under_parent(
    collection: AsyncCollection[Document],
    node_id: str,
    parent_id: str,
    stored_with: list[str],
    entry_for: Callable[[list[str]], Document],
) -> list[str]:
    """A node just stored under ``parent_id`` with the ancestors the parent had when it was
    read. A move that placed the parent elsewhere in between, and finished its pass over the
    subtree before the node existed, left the node under the old ancestors: it takes the
    parent's as they are now, announced with ``entry_for``. Its ancestors as they end."""
    current = stored_with
    for _ in range(10):  # each turn follows one more move that landed meanwhile
        parent = await collection.find_one({"_id": parent_id}, {"ancestor_ids": 1})
        if parent is None:
            return current
        wanted = [*parent.get("ancestor_ids", []), parent_id]
        if wanted == current:
            return current
        await collection.update_one(
            {"_id": node_id, "ancestor_ids": current},
            push_outbox({"$set": {"ancestor_ids": wanted}}, entry_for(wanted)),
        )
        node = await collection.find_one({"_id": node_id}, {"ancestor_ids": 1})
        if node is None:
            return current
        current = list(node.get("ancestor_ids", []))
    return current
