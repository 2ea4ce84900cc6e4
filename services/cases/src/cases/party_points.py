"""Member points (党员量化积分, 002:27; docs/party-life.md): a party member's own ledger, apart
from the service points of the points service. Each entry names its cause (attendance,
learning, volunteer) and rule; the rule table is the operators' (party:manage), each rule with
a monthly cap; one entry per cause, so a redelivered fact never earns twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cases.domain import InvalidRequest, NotPermitted
from cases.party_rules import DEFAULT_RULES
from cases.records import EVENT_SOURCE, TOPIC, aware
from cases.store.party import PartyStore
from common.auth import Principal
from common.clock import Clock
from common.events import new_event
from common.events.party import MemberPointsAwarded, MemberPointsCause
from common.outbox import RelayRef, drop_outbox, outbox_entry, outbox_fields, publish_now

Document = dict[str, Any]
MAX_POINTS = 100  # per entry; a larger rule is a typo, not a policy


@dataclass(frozen=True)
class Earning:
    """A fact that may earn member points: whose, why, which rule, what it refers to."""

    driver_id: str
    rule_id: str
    ref: str
    at: datetime
    minutes: int = 0


@dataclass(frozen=True)
class RuleChange:
    cause: MemberPointsCause
    points: int
    min_minutes: int
    cap_per_month: int
    active: bool = True


class MemberPoints:
    def __init__(self, store: PartyStore, *, clock: Clock, relay: RelayRef) -> None:
        self._store = store
        self._clock = clock
        self._relay = relay

    async def seed(self) -> None:
        await self._store.seed_rules(DEFAULT_RULES, aware(self._clock()))

    async def rules(self) -> list[Document]:
        return await self._store.all_rules()

    async def put_rule(self, principal: Principal, rule_id: str, change: RuleChange) -> Document:
        if not (principal.role == "operator" and principal.has_scope("party:manage")):
            raise NotPermitted("the party committee's staff (party:manage) set member-point rules")
        if not 0 < change.points <= MAX_POINTS:
            raise InvalidRequest(f"points are 1 to {MAX_POINTS} per entry")
        if change.cap_per_month < change.points:
            raise InvalidRequest("a monthly cap below one entry's points would never pay")
        rule = {
            "cause": change.cause,
            "points": change.points,
            "min_minutes": change.min_minutes,
            "cap_per_month": change.cap_per_month,
            "active": change.active,
            "updated_by": principal.actor,
            "updated_at": aware(self._clock()),
        }
        return await self._store.put_rule(rule_id, rule)

    async def award(self, earning: Earning) -> Document | None:
        """The entry the fact earns under its rule and the month's cap, or None (no active rule,
        too short, the cap reached). Idempotent: the entry id is the rule and the cause."""
        rule = await self._store.rule(earning.rule_id)
        if rule is None or not rule.get("active") or earning.minutes < rule["min_minutes"]:
            return None
        at = aware(earning.at)
        period = f"{at:%Y-%m}"
        entry_id = f"{earning.driver_id}:{earning.rule_id}:{earning.ref}"
        cap_id = f"{earning.driver_id}:{earning.rule_id}:{period}"
        granted = await self._store.reserve(
            cap_id, earning.driver_id, entry_id, int(rule["points"]), int(rule["cap_per_month"])
        )
        if granted == 0:
            return None
        data = MemberPointsAwarded(
            entry_id=entry_id,
            driver_id=earning.driver_id,
            cause=rule["cause"],
            rule_id=earning.rule_id,
            points=granted,
            period=period,
            awarded_at=at,
        )
        event = new_event(
            data, source=EVENT_SOURCE, subject=earning.driver_id, event_id=f"{entry_id}:awarded"
        )
        doc = data.model_dump(mode="python") | {
            "_id": entry_id,
            "awarded_at": at,
            **outbox_fields([outbox_entry(TOPIC, event)]),
        }
        await self._store.add_entry(doc)
        await publish_now(self._relay, self._store.ledger, entry_id)
        drop_outbox(doc)
        return doc

    async def entries(self, driver_id: str, limit: int) -> list[Document]:
        return await self._store.statement(driver_id, limit)
