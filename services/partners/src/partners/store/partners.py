"""The ``partners`` collection: one document per partner account, with its outbox."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes, is_duplicate_key
from common.outbox import OUTBOX_HIDDEN, outbox_fields, push_outbox
from partners.domain import Partner

Document = dict[str, Any]

PARTNERS = "partners"
INDEXES = [Indexes(PARTNERS)]


def _partner(doc: Document) -> Partner:
    return Partner.model_validate({**doc, "partner_id": doc["_id"]})


class PartnerStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[PARTNERS]

    async def get(self, partner_id: str) -> Partner | None:
        doc = await self.collection.find_one({"_id": partner_id}, OUTBOX_HIDDEN)
        return _partner(doc) if doc else None

    async def page(self, after: str | None, limit: int) -> list[Partner]:
        query: Document = {"_id": {"$gt": after}} if after else {}
        cursor = self.collection.find(query, OUTBOX_HIDDEN).sort("_id", 1).limit(limit)
        return [_partner(doc) async for doc in cursor]

    async def insert_new(self, partner: Partner, outbox: list[Document]) -> bool:
        """False when the partner exists already."""
        doc = partner.model_dump(mode="python", exclude={"partner_id"})
        doc["quotas"] = partner.quotas.model_dump()
        try:
            await self.collection.insert_one(
                {"_id": partner.partner_id, **doc, **outbox_fields(outbox)}
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return False
        return True

    async def replace_version(
        self, partner: Partner, expected_version: int, outbox: list[Document]
    ) -> bool:
        """Write the account's next version if it is still at ``expected_version``."""
        fields = partner.model_dump(mode="python", exclude={"partner_id"})
        fields["quotas"] = partner.quotas.model_dump()
        result = await self.collection.update_one(
            {"_id": partner.partner_id, "version": expected_version},
            push_outbox({"$set": fields}, outbox),
        )
        return result.modified_count == 1
