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
from registry.store.tree import subtree_query
from registry.store.tree_nodes import NodeStore

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


class OrganisationStore(NodeStore[Organisation]):
    model = Organisation
    id_field = "organisation_id"

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        super().__init__(db[ORGANISATIONS])

    async def subtree(
        self, root_id: str, *, kind: OrganisationKind | None, after: str | None, limit: int
    ) -> list[Organisation]:
        query: Document = subtree_query(root_id)
        if kind:
            query["kind"] = kind
        return await self.find_page(query, after=after, limit=limit)

    async def count_branch_types(self, root_id: str | None = None) -> dict[str, int]:
        return await self.count_by("branch_type", root_id)

    async def count_by_kind(self, root_id: str | None = None) -> dict[str, int]:
        return await self.count_by("kind", root_id)

    async def page(
        self, *, kind: OrganisationKind | None, after: str | None, limit: int
    ) -> list[Organisation]:
        return await self.find_page({"kind": kind} if kind else {}, after=after, limit=limit)
