"""Moving a subtree of the organisation or grid tree, safe against a crash half-way (issue 16).

A move touches the moved node and every node below it: several documents, and no
multi-document transactions. So, like an erasure (lifecycle.py), it is an intent written first
and finished at start-up if a crash interrupts it:

1. **claim** the tree's journal (store/tree_moves.py): one move per tree at a time, numbered
   ``seq``. Moves are rare operator acts; a second one meanwhile answers 409.
2. **check** the move under the claim (the parent exists, it is not the node or below it), so
   two moves can never make a cycle together, then **plan** it: the new parent and ancestors
   are written into the journal (``moving``).
3. **apply** the plan node by node (store/tree.py): each node's new ancestors and its
   ``*.placed.v1`` announcement in one update, guarded by ``seq``, so each node is announced
   once per move however often the plan is applied.
4. **release** the journal, then publish the outboxes (the outbox sweeper does it otherwise).

A crash after 2 leaves a plan: the next start (or the next move request) applies it to the end
and releases it. A crash between 1 and 2 leaves a claim without a plan: dropped at start-up, or
by a request once it is older than ``stale_after``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from common.events import EventData
from common.events.registry import GridPlaced, OrganisationPlaced
from common.faults import Faults
from common.outbox import OUTBOX_HIDDEN
from registry.domain import Conflict, NotFound
from registry.records import DriverRecords
from registry.store.tree import (
    ancestors_after,
    place_descendant,
    place_root,
    subtree_ids,
    unplaced_descendants,
)
from registry.store.tree_moves import MoveJournal

Document = dict[str, Any]


@dataclass(frozen=True)
class Move:
    """A checked plan: ``node_id`` goes under ``parent_id`` (None: a root)."""

    seq: int
    move_id: str
    node_id: str
    parent_id: str | None
    ancestor_ids: list[str]
    previous_parent_id: str | None
    at: datetime

    def plan(self) -> Document:
        return {
            "move_id": self.move_id,
            "node_id": self.node_id,
            "parent_id": self.parent_id,
            "ancestor_ids": self.ancestor_ids,
            "previous_parent_id": self.previous_parent_id,
            "at": self.at,
        }

    @classmethod
    def of(cls, journal: Document) -> Move:
        """The plan a journal document holds."""
        return cls(
            seq=int(journal["seq"]),
            move_id=journal["move_id"],
            node_id=journal["node_id"],
            parent_id=journal.get("parent_id"),
            ancestor_ids=list(journal.get("ancestor_ids", [])),
            previous_parent_id=journal.get("previous_parent_id"),
            at=journal["at"],
        )


# The announcement of one node's place after a move: (node document, its ancestors, the move).
Placed = Callable[[Document, list[str], Move], EventData]


def organisation_placed(doc: Document, ancestors: list[str], move: Move) -> EventData:
    return OrganisationPlaced(
        organisation_id=doc["_id"],
        kind=doc["kind"],
        parent_id=ancestors[-1] if ancestors else None,
        ancestor_ids=ancestors,
        previous_parent_id=move.previous_parent_id,
        moved_root_id=move.node_id,
        placed_at=move.at,
    )


def grid_placed(doc: Document, ancestors: list[str], move: Move) -> EventData:
    return GridPlaced(
        grid_id=doc["_id"],
        level=doc.get("level"),
        parent_id=ancestors[-1] if ancestors else None,
        ancestor_ids=ancestors,
        previous_parent_id=move.previous_parent_id,
        moved_root_id=move.node_id,
        placed_at=move.at,
    )


@dataclass(frozen=True)
class Tree:
    name: str  # the journal's key: the collection's name
    what: str  # "organisation" or "grid", for answers
    collection: AsyncCollection[Document]
    placed: Placed


class TreeMover:
    def __init__(
        self,
        journal: MoveJournal,
        records: DriverRecords,
        faults: Faults | None = None,
        *,
        stale_after: timedelta = timedelta(seconds=30),
    ) -> None:
        self._journal = journal
        self._records = records
        self._faults = faults or Faults()
        self._stale_after = stale_after

    async def move(self, tree: Tree, node_id: str, parent_id: str | None) -> None:
        """Place ``node_id`` and its subtree under ``parent_id``; announced node by node."""
        seq = await self._claim(tree)
        try:
            move = await self._checked(tree, seq, node_id, parent_id)
        except BaseException:
            await self._journal.release(tree.name, seq)
            raise
        if move is None:  # already there: nothing to move or announce
            await self._journal.release(tree.name, seq)
            return
        if not await self._journal.plan(tree.name, seq, move.plan()):
            raise Conflict(f"the {tree.what} tree changed meanwhile; try again")
        self._faults.hit("registry.tree_move.planned")
        await self._finish(tree, move)

    async def finish_interrupted(self, trees: list[Tree]) -> int:
        """At start-up: apply the plans a crash left, drop claims that never got one."""
        finished = 0
        for tree in trees:
            current = await self._journal.current(tree.name)
            if current is None:
                continue
            if current["state"] == "moving":
                await self._finish(tree, Move.of(current))
                finished += 1
            else:
                await self._journal.release(tree.name, int(current["seq"]))
        return finished

    async def _claim(self, tree: Tree) -> int:
        for _ in range(3):
            seq = await self._journal.claim(tree.name, uuid.uuid4().hex, self._records.now())
            if seq is not None:
                return seq
            current = await self._journal.current(tree.name)
            if current is not None and not await self._take_over(tree, current):
                break
        raise Conflict(f"another move in the {tree.what} tree is under way; try again")

    async def _take_over(self, tree: Tree, current: Document) -> bool:
        """Finish a written plan (safe from any process) or drop a stale claim; False while
        another request may still be checking its move."""
        if current["state"] == "moving":
            await self._finish(tree, Move.of(current))
            return True
        if current["claimed_at"] <= self._records.now() - self._stale_after:
            await self._journal.release(tree.name, int(current["seq"]))
            return True
        return False

    async def _checked(
        self, tree: Tree, seq: int, node_id: str, parent_id: str | None
    ) -> Move | None:
        node = await tree.collection.find_one({"_id": node_id}, {"parent_id": 1})
        if node is None:
            raise NotFound(tree.what)
        ancestors: list[str] = []
        if parent_id is not None:
            parent = await tree.collection.find_one({"_id": parent_id}, {"ancestor_ids": 1})
            if parent is None:
                raise NotFound(tree.what)
            if parent_id == node_id or node_id in parent.get("ancestor_ids", []):
                raise Conflict(f"a {tree.what} cannot move under itself or its own descendant")
            ancestors = [*parent.get("ancestor_ids", []), parent_id]
        previous = node.get("parent_id")
        if previous == parent_id:
            return None
        return Move(
            seq=seq,
            move_id=f"mov_{uuid.uuid4().hex[:20]}",
            node_id=node_id,
            parent_id=parent_id,
            ancestor_ids=ancestors,
            previous_parent_id=previous,
            at=self._records.now(),
        )

    async def _finish(self, tree: Tree, move: Move) -> None:
        await self._apply(tree, move)
        await self._journal.release(tree.name, move.seq)
        for moved in await subtree_ids(tree.collection, move.node_id):
            await self._records.announce_in(tree.collection, moved)

    async def _apply(self, tree: Tree, move: Move) -> None:
        node = await tree.collection.find_one({"_id": move.node_id}, OUTBOX_HIDDEN)
        if node is None:  # nodes are never deleted; nothing to place if it were
            return
        entry = self._entry(tree, node, move.ancestor_ids, move)
        await place_root(
            tree.collection,
            move.node_id,
            move.parent_id,
            move.ancestor_ids,
            seq=move.seq,
            entry=entry,
        )
        self._faults.hit("registry.tree_move.root_placed")
        placed = 0
        # Again until none is left: a node added below the subtree meanwhile moves too.
        while batch := await unplaced_descendants(tree.collection, move.node_id, move.seq):
            progressed = False
            for doc in batch:
                ancestors = ancestors_after(doc, move.node_id, move.ancestor_ids)
                entry = self._entry(tree, doc, ancestors, move)
                if await place_descendant(
                    tree.collection, doc, ancestors, seq=move.seq, entry=entry
                ):
                    progressed = True
                    placed += 1
                    self._faults.hit(f"registry.tree_move.descendant.{placed}")
            if not progressed:
                break

    def _entry(self, tree: Tree, doc: Document, ancestors: list[str], move: Move) -> Document:
        # One id per node and move: a republished announcement is the same event.
        event_id = f"{move.move_id}.{doc['_id']}"
        return self._records.outbox(tree.placed(doc, ancestors, move), doc["_id"], event_id)
