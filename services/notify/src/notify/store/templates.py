"""The ``templates`` collection: operators' texts per event type and language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.mongo import Indexes
from notify.domain import Content

Document = dict[str, Any]

TEMPLATES = "templates"
INDEXES = [Indexes(TEMPLATES)]


def _id(event_type: str, language: str) -> str:
    return f"{event_type}|{language}"


class TemplateStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[TEMPLATES]

    async def get(self, event_type: str, language: str) -> Document | None:
        return await self.collection.find_one({"_id": _id(event_type, language)})

    async def all(self) -> list[Document]:
        return await self.collection.find({}).to_list()

    async def save(
        self, event_type: str, language: str, content: Content, by: str, at: datetime
    ) -> Document:
        await self.collection.update_one(
            {"_id": _id(event_type, language)},
            {
                "$set": {
                    "event_type": event_type,
                    "language": language,
                    "title": content.title,
                    "body": content.body,
                    "updated_by": by,
                    "updated_at": at,
                },
                "$inc": {"version": 1},
            },
            upsert=True,
        )
        doc = await self.get(event_type, language)
        assert doc is not None
        return doc

    async def delete(self, event_type: str, language: str) -> bool:
        result = await self.collection.delete_one({"_id": _id(event_type, language)})
        return result.deleted_count == 1
