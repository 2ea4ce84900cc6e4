"""Redemptions: their records, their one-time codes, and the steps that move them between
states (see ``points.mall`` for the protocol), including finishing what a crash left half-done.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.clock import Clock
from common.faults import Faults
from common.logging import describe_error, get_logger
from points.domain import Cause, Entry, PointsError
from points.rewards import Channel
from points.service import PointsService
from points.store.redemptions import CANCEL_NOTE, MOVING, RedemptionStore
from points.store.rewards import RewardStore

log = get_logger(__name__)

Document = dict[str, Any]
RedemptionState = Literal[
    "reserving", "paying", "reserved", "fulfilled", "failed", "cancelling", "cancelled", "expired"
]

MALL_SOURCE = "driverhome/points/mall"
# Crockford base32: no I, L, O or U, so a code read aloud or typed is not misread.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
HOLDING = ("paying", "reserved", "cancelling")


class RedemptionNotFound(PointsError):
    problem_detail = "no such redemption"


class KeyReused(PointsError):
    """The Idempotency-Key was used before for another reward or counter."""


class NotAllowedHere(PointsError):
    """The reward is not handed over at this counter."""


class WrongCode(PointsError):
    problem_detail = "the code does not match"


class CodeLocked(PointsError):
    pass


class InvalidTransition(PointsError):
    """The redemption is not in a state this step starts from (e.g. already fulfilled)."""

    def __init__(self, state: str, action: str) -> None:
        super().__init__(f"a {state} redemption cannot be {action}")
        self.state = state


class Redemption(BaseModel):
    model_config = ConfigDict(frozen=True)

    redemption_id: str
    driver_id: str
    reward_id: str
    reward_name: str
    cost: int
    channel: Channel
    counters: list[str] = Field(default_factory=list)
    counter_id: str | None = None
    state: RedemptionState
    failure: str | None = None
    entry_id: str
    created_at: datetime
    updated_at: datetime
    reserved_at: datetime | None = None
    expires_at: datetime | None = None
    fulfilled_at: datetime | None = None
    fulfilled_by: str | None = None
    fulfilled_at_counter: str | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None


def redemption_of(doc: Document) -> Redemption:
    fields = {k: v for k, v in doc.items() if k in Redemption.model_fields}
    cancel = doc.get("cancel") or {}
    reason, note = cancel.get("reason"), doc.get(CANCEL_NOTE)
    return Redemption.model_validate(
        {
            **fields,
            "redemption_id": doc["_id"],
            "cancelled_by": cancel.get("by"),
            "cancel_reason": f"{reason}: {note}" if reason and note else reason,
        }
    )


@dataclass(frozen=True)
class Reservation:
    redemption: Redemption
    code: str | None
    created: bool


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def display_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def normalise_code(typed: str) -> str:
    cleaned = typed.upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("ILO", "110"))


def code_hash(rid: str, code: str) -> str:
    return hashlib.sha256(f"{rid}\x1f{normalise_code(code)}".encode()).hexdigest()


def redemption_id_for(driver_id: str, request_key: str | None) -> str:
    if request_key is None:
        return f"rd_{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{driver_id}\x1f{request_key}".encode()).hexdigest()
    return f"rd_{digest[:32]}"


class RedemptionSteps:
    """Each step one conditional update on the state it leaves: safe to repeat and to race."""

    def __init__(
        self,
        service: PointsService,
        rewards: RewardStore,
        redemptions: RedemptionStore,
        *,
        reservation_days: float,
        faults: Faults,
        clock: Clock,
    ) -> None:
        self.service = service
        self.rewards = rewards
        self.redemptions = redemptions
        self.reservation_days = reservation_days
        self._faults = faults
        self._clock = clock

    async def advance(self, rid: str, *, sweeping: bool = False) -> Document:
        """Drive a redemption to a state it rests in; safe to run concurrently and repeatedly."""
        for _ in range(50):
            doc = await self.get(rid)
            state = doc["state"]
            if state == "reserving":
                await self._take_stock(doc, rollback=sweeping)
            elif state == "paying":
                await self._take_points(doc)
            elif state == "cancelling":
                await self._refund(doc)
            else:
                await self.settle_stock(doc)
                return doc
        raise RuntimeError(f"redemption {rid} did not settle")

    async def _take_stock(self, doc: Document, *, rollback: bool) -> None:
        rid = str(doc["_id"])
        if rollback:
            # Interrupted before anything was confirmed: undo rather than take points later.
            await self.move(rid, "reserving", {"state": "failed", "failure": "interrupted"})
            return
        token = uuid.uuid4().hex
        took = await self.rewards.take(doc["reward_id"], rid, token, self._clock())
        self._faults.hit("points.mall.after_stock")
        if not took:
            hold = await self.rewards.hold_of(doc["reward_id"], rid)
            if hold is None:
                await self.move(rid, "reserving", {"state": "failed", "failure": "out of stock"})
                return
            token = str(hold["token"])  # another attempt for this redemption took the unit
        confirmed = await self.move(rid, "reserving", {"state": "paying", "hold": token})
        if confirmed is not None or (await self.get(rid)).get("hold") == token:
            await self.rewards.confirm(doc["reward_id"], token)
        elif took:
            await self.rewards.release(doc["reward_id"], token)  # we lost the race: give it back

    async def _take_points(self, doc: Document) -> None:
        rid = str(doc["_id"])
        now = self._clock()
        entry = Entry(
            entry_id=doc["entry_id"],
            driver_id=doc["driver_id"],
            kind="redemption",
            amount=-int(doc["cost"]),
            cause=Cause(
                source=MALL_SOURCE,
                event_id=rid,
                event_type="reward.redeemed",
                reason=f"redeemed {doc['reward_name']}",
            ),
            occurred_at=doc["created_at"],
            created_at=now,
            detail={"redemption_id": rid, "reward_id": doc["reward_id"]},
        )
        posted = await self.service.ledger.post(entry)
        self._faults.hit("points.mall.after_points")
        if posted.state == "applied":
            expires = now + timedelta(days=self.reservation_days)
            await self.move(
                rid, "paying", {"state": "reserved", "reserved_at": now, "expires_at": expires}
            )
        elif posted.state == "rejected":
            reason = str(posted.detail.get("rejected", "points not taken"))
            await self.move(rid, "paying", {"state": "failed", "failure": reason})
        # Still pending (account frozen meanwhile): stays paying; the sweeps finish both.

    async def _refund(self, doc: Document) -> None:
        cancel = doc.get("cancel") or {}
        await self.service.reverse(
            doc["entry_id"], operator=str(cancel["by"]), reason=str(cancel["reason"]), refund=True
        )
        self._faults.hit("points.mall.after_refund")
        await self.move(str(doc["_id"]), "cancelling", {"state": cancel["outcome"]})

    async def settle_stock(self, doc: Document) -> None:
        """Release or consume whatever unit is still held for a redemption that moved on."""
        state = doc["state"]
        if state == "reserving":
            return
        hold = await self.rewards.hold_of(doc["reward_id"], str(doc["_id"]))
        if hold is None:
            return
        mine = hold["token"] == doc.get("hold")
        if mine and state in HOLDING:
            return
        if mine and state == "fulfilled":
            await self.rewards.consume(doc["reward_id"], str(hold["token"]))
        else:
            await self.rewards.release(doc["reward_id"], str(hold["token"]))

    async def finish_stale(self, cutoff: datetime) -> int:
        """Finish redemptions and held units that a crash left half-done before ``cutoff``."""
        finished = 0
        for doc in await self.redemptions.stale(cutoff):
            try:
                await self.advance(str(doc["_id"]), sweeping=True)
                finished += 1
            except PointsError as exc:  # e.g. a frozen account: try again next round
                log.warning("redemption not finished", rid=doc["_id"], error=describe_error(exc))
        for reward in await self.rewards.with_unconfirmed_holds(cutoff):
            for hold in reward.get("holds", []):
                if hold.get("ok") or hold["at"] >= cutoff:
                    continue
                try:
                    finished += await self._sweep_hold(str(reward["_id"]), hold)
                except PointsError as exc:
                    log.warning("held unit not settled", rid=hold["rid"], error=describe_error(exc))
        return finished

    async def _sweep_hold(self, reward_id: str, hold: Document) -> int:
        doc = await self.redemptions.get(str(hold["rid"]))
        if doc is None:
            return int(await self.rewards.release(reward_id, str(hold["token"])))
        if doc["state"] in MOVING:
            doc = await self.advance(str(doc["_id"]), sweeping=True)
        if doc.get("hold") == hold["token"] and doc["state"] in HOLDING:
            await self.rewards.confirm(reward_id, str(hold["token"]))
        else:
            await self.settle_stock(doc)
        return 1

    async def get(self, rid: str) -> Document:
        doc = await self.redemptions.get(rid)
        if doc is None:
            raise RedemptionNotFound(rid)
        return doc

    async def move(self, rid: str, from_state: str, fields: Document) -> Document | None:
        return await self.redemptions.move(rid, from_state, {**fields, "updated_at": self._clock()})
