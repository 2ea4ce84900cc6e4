"""How long cases keeps the texts of a case (docs/security.md, "Retention");
``common.retention`` purges them. Overridable per class by the ``retention_days`` setting.

A closed case keeps its texts for two years (a revisit, a complaint about the handling, the
yearly figures' review): its description, attachments and respondent, and every note, comment
and answer its history, extensions, revisits and compensations carry (the same texts an
erasure empties). Then they go and the case stays for the figures with its clocks, like an
erased driver's case. A mutual-help need's contacts go 90 days after its window; a decided aid
application's household facts, documents, statement and review notes, and a hardship visit's
findings, two years after they were made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from cases.aid_visits import VISITS
from cases.erasure import CASE_TEXTS
from cases.settings import CasesSettings
from cases.store.aid import APPLICATIONS
from cases.store.cases import CASES
from cases.store.needs import NEEDS
from common.retention import Expire, RetentionRule, days

Document = dict[str, Any]

CASE_TEXT_DAYS = 730.0
NEED_CONTACT_DAYS = 90.0
AID_TEXT_DAYS = 730.0
# Set once a record's texts are gone, so the purge does not read it again.
TEXTS_GONE = "texts_purged"


def without_texts(value: Any) -> Any:
    """``value`` with every field named in ``CASE_TEXTS``, at any depth, emptied."""
    if isinstance(value, dict):
        return {k: (None if k in CASE_TEXTS else without_texts(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_texts(v) for v in value]
    return value


@dataclass(frozen=True)
class ClosedCaseTexts:
    keep: timedelta
    data_class: str = "closed case texts"

    async def apply(self, db: AsyncDatabase[Document], now: datetime, batch_size: int) -> int:
        collection = db[CASES]
        old: Document = {"closed_at": {"$lt": now - self.keep}, TEXTS_GONE: {"$ne": True}}
        total = 0
        moved: list[str] = []  # changed by someone else since read: next round
        while True:
            query = {**old, "_id": {"$nin": moved}} if moved else old
            docs = await collection.find(query).limit(batch_size).to_list()
            for doc in docs:
                kept = without_texts(doc) | {
                    "description": "",
                    "attachments": [],
                    "respondent": None,
                    TEXTS_GONE: True,
                }
                # Pinned to the version read, and moved on: a step planned on the case as it
                # was cannot put the texts back.
                pinned = {"_id": doc["_id"], "version": doc.get("version")}
                if "version" in doc:
                    kept["version"] = doc["version"] + 1
                done = await collection.replace_one(pinned, kept)
                if done.modified_count:
                    total += 1
                else:
                    moved.append(doc["_id"])
            if len(docs) < batch_size:
                return total


def retention_rules(settings: CasesSettings) -> list[RetentionRule]:
    chosen = settings.retention_days
    # A mutual-help need's contacts (the poster's and the helper's, encrypted) and what the
    # parties wrote serve the help itself: gone a while after the need's window, whatever
    # became of it; the need stays for the board's figures.
    contacts = days(chosen, "mutual-help contacts", NEED_CONTACT_DAYS)
    return [
        ClosedCaseTexts(keep=days(chosen, "closed case texts", CASE_TEXT_DAYS)),
        # A decided aid application keeps its kind, grade, amount and reviewers for the figures;
        # what describes the household goes after two years, as an erasure would take it.
        Expire(
            "decided aid applications' household facts",
            APPLICATIONS,
            "applied_at",
            days(chosen, "decided aid applications' household facts", AID_TEXT_DAYS),
            where={"status": {"$in": ["granted", "rejected"]}, TEXTS_GONE: {"$ne": True}},
            strip={
                "$set": {
                    "household": {},
                    "documents": [],
                    "statement": "",
                    "reviews.$[].note": "",
                    TEXTS_GONE: True,
                },
                "$inc": {"version": 1},
            },
        ),
        # What a hardship visit found in a home.
        Expire(
            "hardship visit findings",
            VISITS,
            "recorded_at",
            days(chosen, "hardship visit findings", AID_TEXT_DAYS),
            where={TEXTS_GONE: {"$ne": True}},
            strip={"$set": {"findings": "", TEXTS_GONE: True}},
        ),
        Expire(
            "mutual-help contacts",
            NEEDS,
            "window_end",
            contacts,
            where={"contact": {"$ne": None}},
            strip={"$set": {"contact": None, "details": None}},
        ),
        Expire(
            "mutual-help helper contacts",
            NEEDS,
            "window_end",
            contacts,
            where={"helper.contact": {"$ne": None}},
            strip={"$set": {"helper.contact": None}},
        ),
        Expire(
            "mutual-help feedback comments",
            NEEDS,
            "window_end",
            contacts,
            where={"feedback.comment": {"$ne": None}},
            strip={"$set": {"feedback.comment": None}},
        ),
    ]
