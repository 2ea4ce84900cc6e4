"""Honours (issue 17; docs/honours.md): 每月之星 monthly stars, and yearly 示范标兵 model
drivers, 安全标兵 safety models and 首善探头 good samaritans.

Drivers, stations and organisations (operators with honours:manage) nominate a driver for a
category and period; each panel member (honours:vote) casts one vote per round; a secretary
(honours:manage) announces the round once: the most voted become winners, each announced as
``honour.awarded.v1`` (notify congratulates, points adds the bonus of its rule), and the
round joins the public honours list of its month and year.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from cases.domain import CaseNotFound, InvalidRequest, NotPermitted, TransitionNotAllowed
from cases.records import EVENT_SOURCE, TOPIC, CaseRecords, aware
from cases.store.honours import HonourStore
from common.auth import Principal
from common.erasure import scrubbed
from common.events import new_event
from common.events.honours import (
    HonourAwarded,
    HonourCategory,
    HonourRoundAnnounced,
    HonourWinner,
)
from common.logging import scrub
from common.outbox import drop_outbox, outbox_entry, outbox_fields, publish_now

Document = dict[str, Any]

MONTHLY: frozenset[str] = frozenset({"monthly_star"})
_MONTH = re.compile(r"^20\d{2}-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^20\d{2}$")
MAX_WINNERS = 30  # the largest list the articles name (30 safety models)
# A display name is what a public announcement calls the winner (王师傅, 李建*): never a number
# that could be a phone or ID (five digits in a row or more).
_NUMBER_RUN = re.compile(r"\d{5,}")
MAX_DISPLAY_NAME = 20
# Reads of a round's panel a vote makes while secretaries keep renaming it.
_PANEL_READS = 3


def round_id(category: str, period: str) -> str:
    pattern = _MONTH if category in MONTHLY else _YEAR
    if not pattern.fullmatch(period):
        shape = "YYYY-MM" if category in MONTHLY else "YYYY"
        raise InvalidRequest(f"the period of {category} is {shape}")
    return f"{category}:{period}"


def nominator_of(principal: Principal, driver_id: str) -> Document:
    if principal.role == "driver":
        if principal.driver_id == driver_id:
            raise InvalidRequest("drivers nominate others, not themselves")
        return {"kind": "driver", "id": principal.driver_id}
    if principal.role == "station" and principal.station_id:
        return {"kind": "station", "id": principal.station_id}
    if principal.role == "operator" and principal.has_scope("honours:manage"):
        return {"kind": "organisation", "id": principal.unit_id or principal.actor}
    raise NotPermitted("drivers, stations and organisations (honours:manage) nominate")


def public_text(text: str, what: str, longest: int) -> str:
    """A text others will read, checked: 1 to ``longest`` characters and no phone- or ID-like
    number (five digits in a row or more)."""
    shown = text.strip()
    # scrub also knows numbers written with +86, spaces or dashes ("138 0013 8000").
    if not 1 <= len(shown) <= longest or _NUMBER_RUN.search(shown) or scrub(shown) != shown:
        raise InvalidRequest(f"{what} is 1-{longest} characters and carries no phone or ID number")
    return shown


def display_names(names: dict[str, str] | None) -> dict[str, str]:
    """The secretary's display names, checked: 1-20 characters, no phone- or ID-like number."""
    return {
        driver_id: public_text(name, "a display name", MAX_DISPLAY_NAME)
        for driver_id, name in (names or {}).items()
    }


def forget_winner(doc: Document, driver_id: str, anon: str) -> Document:
    """An erased winner stays in the public list as the pseudonym, without a display name."""
    kept: Document = scrubbed(doc, driver_id, anon, frozenset())
    for winner in kept.get("winners", []):
        if winner["driver_id"] == anon:
            winner["display_name"] = None
    return kept


def ranked(nominations: list[Document], votes: list[Document]) -> list[tuple[Document, int]]:
    """Nominations by votes, most first; ties by who was nominated first (stable, public)."""
    counts: dict[str, int] = {}
    for vote in votes:
        counts[vote["nomination_id"]] = counts.get(vote["nomination_id"], 0) + 1
    order = sorted(nominations, key=lambda n: (-counts.get(n["_id"], 0), n["at"], n["_id"]))
    return [(n, counts.get(n["_id"], 0)) for n in order]


def _round_announced(
    rid: str, category: HonourCategory, period: str, winners: list[Document], now: datetime
) -> Document:
    announced = HonourRoundAnnounced(
        round_id=rid,
        category=category,
        period=period,
        winners=[HonourWinner.model_validate(w) for w in winners],
        announced_at=now,
    )
    event = new_event(
        announced, source=EVENT_SOURCE, subject=rid, event_id=f"{rid}:announced", time=now
    )
    return outbox_entry(TOPIC, event)


class Honours:
    def __init__(self, records: CaseRecords, store: HonourStore) -> None:
        self._records = records
        self._store = store

    def _now(self) -> datetime:
        return aware(self._records.clock())

    async def nominate(
        self,
        principal: Principal,
        category: HonourCategory,
        period: str,
        driver_id: str,
        reason: str,
    ) -> Document:
        round_id(category, period)
        who = nominator_of(principal, driver_id)
        return await self.nominate_as(
            who | {"sub": principal.actor}, category, period, driver_id, reason
        )

    async def nominate_as(
        self,
        who: Document,
        category: HonourCategory,
        period: str,
        driver_id: str,
        reason: str,
    ) -> Document:
        """Record a nomination by ``who`` (kind, id, sub) whose right was checked already: a
        nominator through the API, or an organisation's 三亮三比 evaluation (cases.commitments)."""
        rid = await self.check_nomination(category, period, driver_id)
        nominator = who | {"reason": reason, "at": self._now()}
        return await self._store.nominate(rid, driver_id, nominator)

    async def check_nomination(self, category: HonourCategory, period: str, driver_id: str) -> str:
        """The round a nomination would join, if it may be made now (else the refusal)."""
        await self._records.refuse_erased(driver_id)
        rid = round_id(category, period)
        if category == "safety_model":
            await self._require_milestone(driver_id, period)
        if await self._store.rounds.find_one({"_id": rid}, {"_id": 1}):
            raise TransitionNotAllowed("this round was announced already")
        return rid

    async def _require_milestone(self, driver_id: str, year: str) -> None:
        """A safety model needs the traffic-safety partner's milestone in the year: cases reads
        no partner topic, so it learns it from points' award for ``safety.milestone.v1``."""
        at = await self._store.milestone_at(driver_id)
        if at is None or f"{aware(at):%Y}" != year:
            raise InvalidRequest(
                f"a safety model needs a traffic-safety milestone (safety.milestone.v1) in {year}"
            )

    async def note_milestone(self, driver_id: str, at: datetime) -> None:
        await self._store.note_milestone(driver_id, at)

    async def nominations(self, principal: Principal, category: str, period: str) -> list[Document]:
        if not (
            principal.role == "operator" and principal.scopes & {"honours:vote", "honours:manage"}
        ):
            raise NotPermitted("the panel and the secretary read nominations")
        return await self._store.of_round(round_id(category, period))

    async def vote(self, principal: Principal, nomination_id: str) -> Document:
        if not (principal.role == "operator" and principal.has_scope("honours:vote")):
            raise NotPermitted("panel members (honours:vote) vote")
        nomination = await self._store.nomination(nomination_id)
        if nomination is None:
            raise CaseNotFound("no such nomination")
        rid = nomination["round"]
        for _ in range(_PANEL_READS):
            panel = await self._store.panel(rid)
            if panel is not None and principal.actor not in panel:
                raise NotPermitted("this round's panel votes (its members were named)")
            # A panel named between the read and the vote would let this vote count under it.
            if await self._store.begin_voting(rid, panel):
                break
        else:
            raise TransitionNotAllowed("the round's panel kept changing; vote again")
        if await self._store.rounds.find_one({"_id": rid}, {"_id": 1}):
            raise TransitionNotAllowed("this round was announced already")
        if not await self._store.vote(rid, principal.actor, nomination_id, self._now()):
            raise TransitionNotAllowed("one vote per panel member and round")
        # The announcement closes the voting before it reads the votes: a vote stored before
        # the close is counted, and one stored after it sees the close here and is withdrawn.
        if await self._store.voting_closed(rid):
            await self._store.unvote(rid, principal.actor)
            raise TransitionNotAllowed("this round's voting closed for its announcement")
        return nomination

    async def name_panel(
        self, principal: Principal, category: HonourCategory, period: str, members: list[str]
    ) -> Document:
        """The secretary names a round's panel (token subjects) before its first vote; then
        only they vote in it. Without a named panel any honours:vote holder votes."""
        if not (principal.role == "operator" and principal.has_scope("honours:manage")):
            raise NotPermitted("the secretary (honours:manage) names a round's panel")
        rid = round_id(category, period)
        if await self._store.votes_of(rid) or await self._store.rounds.find_one({"_id": rid}):
            raise TransitionNotAllowed("the round's voting began: its panel stays as it is")
        chosen = sorted(set(members))
        if not await self._store.set_panel(rid, chosen, principal.actor, self._now()):
            raise TransitionNotAllowed("the round's voting began: its panel stays as it is")
        return {"round": rid, "members": chosen}

    async def announce(
        self,
        principal: Principal,
        category: HonourCategory,
        period: str,
        seats: int,
        names: dict[str, str] | None = None,
    ) -> Document:
        """The round's winners, announced once: one ``honour.awarded.v1`` per winner and one
        ``honour.round_announced.v1`` for the public announcement (notify broadcasts it)."""
        if not (principal.role == "operator" and principal.has_scope("honours:manage")):
            raise NotPermitted("the secretary (honours:manage) announces")
        if not 1 <= seats <= MAX_WINNERS:
            raise InvalidRequest(f"seats must be 1 to {MAX_WINNERS}")
        shown = display_names(names)
        rid = round_id(category, period)
        await self._store.close_voting(rid)
        votes = await self._store.votes_of(rid)
        chosen = [(n, c) for n, c in ranked(await self._store.of_round(rid), votes) if c > 0]
        if not chosen:
            if not await self._store.rounds.find_one({"_id": rid}, {"_id": 1}):
                await self._store.close_voting(rid, closed=False)  # nothing to announce yet
            raise InvalidRequest("no nomination has a vote yet")
        now = self._now()
        panel = len({v["voter"] for v in votes})
        winners = [
            {"driver_id": n["driver_id"], "votes": c, "display_name": shown.get(n["driver_id"])}
            for n, c in chosen[:seats]
        ]
        events = [
            outbox_entry(
                TOPIC,
                new_event(
                    HonourAwarded(
                        honour_id=f"{rid}:{w['driver_id']}",
                        driver_id=w["driver_id"],
                        category=category,
                        period=period,
                        votes=w["votes"],
                        panel_size=panel,
                        announced_at=now,
                    ),
                    source=EVENT_SOURCE,
                    subject=w["driver_id"],
                    event_id=f"{rid}:{w['driver_id']}:awarded",
                    time=now,
                ),
            )
            for w in winners
        ]
        events.append(_round_announced(rid, category, period, winners, now))
        doc: Document = {
            "_id": rid,
            "category": category,
            "period": period,
            "winners": winners,
            "panel_size": panel,
            "announced_by": principal.actor,
            "announced_at": now,
            **outbox_fields(events),
        }
        if not await self._store.announce(doc):
            raise TransitionNotAllowed("this round was announced already")
        await publish_now(self._records.relay, self._store.rounds, rid)
        drop_outbox(doc)
        return doc

    async def public_list(self, period: str) -> list[Document]:
        if not (_MONTH.fullmatch(period) or _YEAR.fullmatch(period)):
            raise InvalidRequest("period is YYYY or YYYY-MM")
        return await self._store.announced(period)
