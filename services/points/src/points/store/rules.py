"""The ``rules`` collection: every version of every earning rule (never overwritten)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.logging import get_logger
from common.mongo import Indexes, insert_once
from points.rules import (
    DEFAULT_AUTHOR,
    DEFAULT_RULES,
    SUPERSEDED_DEFAULTS,
    Rule,
    RuleSpec,
    superseded_default,
)

Document = dict[str, Any]

RULES = "rules"

log = get_logger(__name__)

INDEXES = [
    Indexes(
        RULES,
        (
            IndexModel([("rule_id", 1), ("version", 1)], unique=True, name="rule_version"),
            IndexModel([("event_type", 1)], name="event_type"),
        ),
    )
]


def _rule_of(doc: Document) -> Rule:
    return Rule.model_validate({k: v for k, v in doc.items() if k not in ("_id", "approval_id")})


class RuleStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[RULES]

    async def seed_defaults(self) -> None:
        """Version 1 of each default rule, once; a default an earlier release seeded and nobody
        changed since moves on to this release's as a new version; operator versions are left
        alone."""
        now = datetime.now(UTC)
        for rule_id, raw in DEFAULT_RULES.items():
            spec = RuleSpec.model_validate(raw)
            rule = Rule(
                **spec.model_dump(),
                rule_id=rule_id,
                version=1,
                created_at=now,
                created_by=DEFAULT_AUTHOR,
            )
            fresh = await insert_once(
                self.collection, {"_id": f"{rule_id}@1", **rule.model_dump(mode="python")}
            )
            if fresh or rule_id not in SUPERSEDED_DEFAULTS:
                continue
            latest = await self.latest(rule_id)
            # Two instances starting at once: one saves the version, the other finds it taken.
            if latest is not None and superseded_default(latest):
                upgraded = await self.add_version(rule_id, spec, DEFAULT_AUTHOR)
                if upgraded is not None:
                    log.info("default rule upgraded", rule_id=rule_id, version=upgraded.version)

    async def add_version(
        self, rule_id: str, spec: RuleSpec, author: str, *, approval_id: str | None = None
    ) -> Rule | None:
        """A new version of a rule; None when another writer took that version number.

        With ``approval_id`` (four eyes) once per approval: run again, it answers the version
        that approval already saved."""
        if approval_id is not None:
            saved = await self.collection.find_one({"rule_id": rule_id, "approval_id": approval_id})
            if saved is not None:
                return _rule_of(saved)
        latest = await self.latest(rule_id)
        version = (latest.version if latest else 0) + 1
        rule = Rule(
            **spec.model_dump(),
            rule_id=rule_id,
            version=version,
            created_at=datetime.now(UTC),
            created_by=author,
        )
        doc = {"_id": f"{rule_id}@{version}", **rule.model_dump(mode="python")}
        if approval_id is not None:
            doc["approval_id"] = approval_id
        if not await insert_once(self.collection, doc):
            return None
        return rule

    async def latest(self, rule_id: str) -> Rule | None:
        cursor = self.collection.find({"rule_id": rule_id}).sort("version", DESCENDING).limit(1)
        async for doc in cursor:
            return _rule_of(doc)
        return None

    async def versions(self, rule_id: str) -> list[Rule]:
        cursor = self.collection.find({"rule_id": rule_id}).sort("version", DESCENDING)
        return [_rule_of(doc) async for doc in cursor]

    async def current(self, event_type: str | None = None) -> list[Rule]:
        """The latest version of each rule (optionally of one event type)."""
        query: Document = {"event_type": event_type} if event_type else {}
        latest: dict[str, Rule] = {}
        async for doc in self.collection.find(query):
            rule = _rule_of(doc)
            if rule.rule_id not in latest or latest[rule.rule_id].version < rule.version:
                latest[rule.rule_id] = rule
        return sorted(latest.values(), key=lambda r: r.rule_id)
