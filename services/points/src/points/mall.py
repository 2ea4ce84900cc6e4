"""The points mall: a reward catalogue and redemptions, reserve → fulfil | cancel | expire.

Points and stock live in different documents and the store has no transactions, so a
redemption is a document that moves through explicit states, each move one conditional update
filtered on the state it leaves (of two processes attempting a move, exactly one succeeds):

    reserving ──take a unit──▶ paying ──ledger entry applied──▶ reserved ──code──▶ fulfilled
        │                        │                                 │
        └─ out of stock ─▶ failed ◀── entry rejected (points)      └─ cancel/expiry ─▶ cancelling
                                                                         refund ─▶ cancelled|expired

Stock. ``rewards.take`` moves one unit from ``stock`` into the reward's ``holds`` as
``{rid, token}`` in one update filtered on ``stock >= 1`` (never oversold) and on no hold for
the same redemption yet. The taker then *confirms* by moving the redemption
``reserving → paying`` with ``hold = token``. A unit leaves ``holds`` exactly once, by an update
filtered on its token: released to stock when the redemption failed, was cancelled or expired,
or when the token is not the one the redemption confirmed (an orphan: a taker that lost the
race or was interrupted); consumed when the redemption was fulfilled. A hold for a redemption
still ``reserving`` is never touched by anyone but the confirm, so nothing is released under a
taker's feet. Confirmed holds are flagged ``ok`` on the reward; unflagged holds older than the
sweep delay are examined by the sweep.

Points. ``paying`` posts one ledger entry of kind ``redemption`` whose id derives from the
redemption id, so however often it is posted it is applied at most once (the ledger's
exactly-once protocol); the ledger rejects it when the balance does not cover the cost, and
the redemption fails (its unit released). A cancel or expiry moves ``reserved → cancelling``
(recording who and why, so a retry posts the same refund) and refunds with
``PointsService.reverse`` — one reversal entry per redemption entry, whoever asks and however
often — then gives the unit back.

Crashes. Every step can be re-run: the sweep picks up redemptions left ``reserving``,
``paying`` or ``cancelling`` for longer than the sweep delay. A stale ``reserving`` one is
rolled back (nothing was confirmed: it fails and any unit taken for it is released); ``paying``
and ``cancelling`` are rolled forward, since the ledger entry may already be applied. Reserved
redemptions past ``expires_at`` are expired by the same sweep.

Codes. A counter reward is handed over against a one-time code shown to the driver once; only
``sha256(redemption id, code)`` is stored. A retried reservation (same ``Idempotency-Key``) or
``reissue_code`` replaces the code (the old one stops working), since the code cannot be
recovered. Five wrong codes lock the redemption until the driver asks for a new code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.clock import Clock
from common.faults import Faults
from common.logging import describe_error, get_logger
from points.domain import (
    AccountNotActive,
    Cause,
    Entry,
    InsufficientPoints,
    PointsError,
    entry_id,
)
from points.service import PointsService
from points.store.redemptions import MOVING, RedemptionStore
from points.store.rewards import RewardStore

log = get_logger(__name__)

Document = dict[str, Any]
Channel = Literal["online", "counter"]
RedemptionState = Literal[
    "reserving", "paying", "reserved", "fulfilled", "failed", "cancelling", "cancelled", "expired"
]

MALL_SOURCE = "driverhome/points/mall"
# Crockford base32: no I, L, O or U, so a code read aloud or typed is not misread.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
MAX_CODE_FAILURES = 5
HOLDING = ("paying", "reserved", "cancelling")
RETURNING = ("failed", "cancelled", "expired")


# errors -------------------------------------------------------------------------------------
class RewardNotFound(PointsError):
    pass


class RewardExists(PointsError):
    pass


class OutOfStock(PointsError):
    pass


class RedemptionNotFound(PointsError):
    pass


class KeyReused(PointsError):
    """The Idempotency-Key was used before for another reward or counter."""


class NotAllowedHere(PointsError):
    """The reward is not handed over at this counter."""


class WrongCode(PointsError):
    pass


class CodeLocked(PointsError):
    pass


class InvalidTransition(PointsError):
    """The redemption is not in a state this step starts from (e.g. already fulfilled)."""

    def __init__(self, state: str, action: str) -> None:
        super().__init__(f"a {state} redemption cannot be {action}")
        self.state = state


# models -------------------------------------------------------------------------------------
class Reward(BaseModel):
    model_config = ConfigDict(frozen=True)

    reward_id: str
    name: str
    category: str
    cost: int = Field(gt=0)
    stock: int = Field(ge=0, description="Units available now")
    held: int = Field(default=0, description="Units held by open reservations")
    issued: int = Field(default=0, description="Units handed over")
    channel: Channel
    counters: list[str] = Field(default_factory=list)
    description: str | None = None
    active: bool = True
    created_at: datetime
    updated_at: datetime


def reward_of(doc: Document) -> Reward:
    fields = {k: v for k, v in doc.items() if k in Reward.model_fields}
    return Reward.model_validate(
        {**fields, "reward_id": doc["_id"], "held": len(doc.get("holds", []))}
    )


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
    return Redemption.model_validate(
        {
            **fields,
            "redemption_id": doc["_id"],
            "cancelled_by": cancel.get("by"),
            "cancel_reason": cancel.get("reason"),
        }
    )


@dataclass(frozen=True)
class Reservation:
    redemption: Redemption
    code: str | None
    created: bool


# codes --------------------------------------------------------------------------------------
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


# use cases ----------------------------------------------------------------------------------
class Mall:
    def __init__(
        self,
        service: PointsService,
        rewards: RewardStore,
        redemptions: RedemptionStore,
        *,
        reservation_days: float,
        sweep_after_seconds: float,
        faults: Faults | None = None,
        clock: Clock,
    ) -> None:
        self.service = service
        self.rewards = rewards
        self.redemptions = redemptions
        self.reservation_days = reservation_days
        self.sweep_after = timedelta(seconds=sweep_after_seconds)
        self._faults = faults or Faults()
        self._clock = clock

    # catalogue ------------------------------------------------------------------------
    async def add_reward(self, reward_id: str, spec: dict[str, Any]) -> Reward:
        now = self._clock()
        doc = {"_id": reward_id, **spec, "active": True, "created_at": now, "updated_at": now}
        if not await self.rewards.create(doc):
            raise RewardExists(reward_id)
        return await self.reward(reward_id)

    async def reward(self, reward_id: str) -> Reward:
        doc = await self.rewards.get(reward_id)
        if doc is None:
            raise RewardNotFound(reward_id)
        return reward_of(doc)

    async def change_reward(self, reward_id: str, changes: dict[str, Any]) -> Reward:
        # Cost changes apply to new reservations; open ones keep the cost they were taken at.
        doc = await self.rewards.update(reward_id, {**changes, "updated_at": self._clock()})
        if doc is None:
            raise RewardNotFound(reward_id)
        return reward_of(doc)

    async def restock(self, reward_id: str, delta: int) -> Reward:
        doc = await self.rewards.restock(reward_id, delta, self._clock())
        if doc is None:
            await self.reward(reward_id)  # raises RewardNotFound
            raise OutOfStock(f"fewer than {-delta} units are available to remove")
        return reward_of(doc)

    async def browse(
        self,
        *,
        category: str | None,
        channel: str | None,
        counter_id: str | None,
        include_inactive: bool,
        after: str | None,
        limit: int,
    ) -> list[Reward]:
        query: Document = {} if include_inactive else {"active": True}
        if category:
            query["category"] = category
        if channel:
            query["channel"] = channel
        if counter_id:
            query["counters"] = counter_id
        return [reward_of(d) for d in await self.rewards.browse(query, after=after, limit=limit)]

    # reserve --------------------------------------------------------------------------
    async def reserve(
        self,
        driver_id: str,
        reward_id: str,
        *,
        request_key: str | None = None,
        counter_id: str | None = None,
    ) -> Reservation:
        """Take a unit and the points for it; the result is ``reserved`` or ``failed``."""
        rid = redemption_id_for(driver_id, request_key)
        request = f"{reward_id}\x1f{counter_id or ''}"
        if request_key is not None and (existing := await self.redemptions.get(rid)):
            return await self._replay(existing, request)
        account = await self.service.get_account(driver_id)
        if account.status != "active":
            raise AccountNotActive(account.status)
        reward_doc = await self.rewards.get(reward_id)
        if reward_doc is None or not reward_doc.get("active"):
            raise RewardNotFound(reward_id)
        reward = reward_of(reward_doc)
        if counter_id is not None and counter_id not in reward.counters:
            raise NotAllowedHere(f"{reward_id} is not handed over at counter {counter_id}")
        # Cheap early answers; the conditional updates below are what actually decide.
        if reward.stock < 1:
            raise OutOfStock(reward_id)
        if account.balance < reward.cost:
            raise InsufficientPoints(account.balance, reward.cost)
        code = new_code()
        now = self._clock()
        doc: Document = {
            "_id": rid,
            "driver_id": driver_id,
            "reward_id": reward_id,
            "reward_name": reward.name,
            "cost": reward.cost,
            "channel": reward.channel,
            "counters": reward.counters,
            "counter_id": counter_id,
            "request": request,
            "state": "reserving",
            "hold": None,
            "entry_id": entry_id(driver_id, "redemption", rid),
            "code_hash": code_hash(rid, code),
            "code_failures": 0,
            "created_at": now,
            "updated_at": now,
        }
        existing = await self.redemptions.insert(doc)
        if existing is not None:
            return await self._replay(existing, request)
        final = await self.advance(rid)
        shown = display_code(code) if final["state"] == "reserved" else None
        return Reservation(redemption_of(final), shown, created=True)

    async def _replay(self, existing: Document, request: str) -> Reservation:
        if existing.get("request") != request:
            raise KeyReused("this Idempotency-Key was used for another reward")
        doc = await self.advance(str(existing["_id"]))
        code = None
        if doc["state"] == "reserved":
            doc, code = await self._new_code(doc)
        return Reservation(redemption_of(doc), code, created=False)

    async def reissue_code(self, rid: str) -> tuple[Redemption, str]:
        """A new code for a reserved redemption (the old one stops working)."""
        doc = await self._get(rid)
        if doc["state"] != "reserved":
            raise InvalidTransition(doc["state"], "given a new code")
        doc, code = await self._new_code(doc)
        if code is None:
            raise InvalidTransition(doc["state"], "given a new code")
        return redemption_of(doc), code

    async def _new_code(self, doc: Document) -> tuple[Document, str | None]:
        code = new_code()
        moved = await self.redemptions.move(
            str(doc["_id"]),
            "reserved",
            {"code_hash": code_hash(str(doc["_id"]), code), "code_failures": 0},
        )
        if moved is None:
            return await self._get(str(doc["_id"])), None
        return moved, display_code(code)

    # the state machine ----------------------------------------------------------------
    async def advance(self, rid: str, *, sweeping: bool = False) -> Document:
        """Drive a redemption to a state it rests in; safe to run concurrently and repeatedly."""
        for _ in range(50):
            doc = await self._get(rid)
            state = doc["state"]
            if state == "reserving":
                await self._take_stock(doc, rollback=sweeping)
            elif state == "paying":
                await self._take_points(doc)
            elif state == "cancelling":
                await self._refund(doc)
            else:
                await self._settle_stock(doc)
                return doc
        raise RuntimeError(f"redemption {rid} did not settle")

    async def _take_stock(self, doc: Document, *, rollback: bool) -> None:
        rid = str(doc["_id"])
        if rollback:
            # Interrupted before anything was confirmed: undo rather than take points later.
            await self._move(rid, "reserving", {"state": "failed", "failure": "interrupted"})
            return
        token = uuid.uuid4().hex
        took = await self.rewards.take(doc["reward_id"], rid, token, self._clock())
        self._faults.hit("points.mall.after_stock")
        if not took:
            hold = await self.rewards.hold_of(doc["reward_id"], rid)
            if hold is None:
                await self._move(rid, "reserving", {"state": "failed", "failure": "out of stock"})
                return
            token = str(hold["token"])  # another attempt for this redemption took the unit
        confirmed = await self._move(rid, "reserving", {"state": "paying", "hold": token})
        if confirmed is not None or (await self._get(rid)).get("hold") == token:
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
            await self._move(
                rid, "paying", {"state": "reserved", "reserved_at": now, "expires_at": expires}
            )
        elif posted.state == "rejected":
            reason = str(posted.detail.get("rejected", "points not taken"))
            await self._move(rid, "paying", {"state": "failed", "failure": reason})
        # Still pending (account frozen meanwhile): stays paying; the sweeps finish both.

    async def _refund(self, doc: Document) -> None:
        cancel = doc.get("cancel") or {}
        await self.service.reverse(
            doc["entry_id"], operator=str(cancel["by"]), reason=str(cancel["reason"])
        )
        self._faults.hit("points.mall.after_refund")
        await self._move(str(doc["_id"]), "cancelling", {"state": cancel["outcome"]})

    async def _settle_stock(self, doc: Document) -> None:
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

    # fulfil, cancel, expire -------------------------------------------------------------
    async def fulfil(
        self, rid: str, code: str | None, *, by: str, counter_id: str | None
    ) -> Redemption:
        """Hand the reward over: at one of its counters against the code (once), or shipped."""
        doc = await self._get(rid)
        if doc["state"] in MOVING:
            doc = await self.advance(rid)
        if counter_id is not None and (
            counter_id not in doc.get("counters", [])
            or doc.get("counter_id") not in (None, counter_id)
        ):
            raise NotAllowedHere(f"this reward is not handed over at counter {counter_id}")
        if doc["state"] != "reserved":
            raise InvalidTransition(doc["state"], "fulfilled")
        now = self._clock()
        condition: Document = {"expires_at": {"$gt": now}}
        if doc["channel"] == "counter":
            if int(doc.get("code_failures", 0)) >= MAX_CODE_FAILURES:
                raise CodeLocked("too many wrong codes: the driver must ask for a new code")
            hashed = code_hash(rid, code or "")
            if code is None or not hmac.compare_digest(hashed, str(doc.get("code_hash"))):
                await self.redemptions.bump(rid, {"state": "reserved"}, {"code_failures": 1})
                raise WrongCode("the code does not match")
            condition |= {"code_hash": hashed, "code_failures": {"$lt": MAX_CODE_FAILURES}}
        moved = await self.redemptions.move(
            rid,
            "reserved",
            {
                "state": "fulfilled",
                "fulfilled_at": now,
                "fulfilled_by": by,
                "fulfilled_at_counter": counter_id,
                "updated_at": now,
            },
            extra=condition,
        )
        if moved is None:
            current = await self._get(rid)
            if current["state"] == "reserved" and current["expires_at"] <= now:
                raise InvalidTransition("expired", "fulfilled")
            if current["state"] == "reserved":
                raise WrongCode("the code does not match")
            raise InvalidTransition(current["state"], "fulfilled")
        await self._settle_stock(moved)
        return redemption_of(moved)

    async def cancel(self, rid: str, *, by: str, reason: str) -> Redemption:
        """Refund the points and return the unit, each exactly once however often asked."""
        return redemption_of(await self._cancel(rid, by=by, reason=reason, outcome="cancelled"))

    async def _cancel(self, rid: str, *, by: str, reason: str, outcome: str) -> Document:
        for _ in range(10):
            doc = await self._get(rid)
            if doc["state"] in ("reserving", "paying"):
                doc = await self.advance(rid)
            if doc["state"] in ("cancelling", "cancelled", "expired"):
                return await self.advance(rid)
            if doc["state"] != "reserved":
                raise InvalidTransition(doc["state"], "cancelled")
            why = f"redemption {rid} {outcome}: {reason}"
            cancel = {"by": by, "reason": why, "outcome": outcome}
            if await self._move(rid, "reserved", {"state": "cancelling", "cancel": cancel}):
                return await self.advance(rid)
        raise RuntimeError(f"redemption {rid} kept changing")

    async def expire_due(self) -> int:
        """Expire reservations past their time (idempotent; several instances may run it)."""
        expired = 0
        for doc in await self.redemptions.due(self._clock()):
            try:
                done = await self._cancel(
                    str(doc["_id"]),
                    by=MALL_SOURCE,
                    reason="not collected in time",
                    outcome="expired",
                )
            except InvalidTransition:
                continue  # fulfilled or cancelled in the meantime
            except PointsError as exc:  # e.g. a closed account: the next round tries again
                log.warning("reservation not expired", rid=doc["_id"], error=describe_error(exc))
                continue
            expired += done["state"] == "expired"
        return expired

    async def sweep(self) -> int:
        """Finish what crashes left half-done, then expire overdue reservations."""
        cutoff = self._clock() - self.sweep_after
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
        await self.expire_due()
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
            await self._settle_stock(doc)
        return 1

    # reading ------------------------------------------------------------------------------
    async def redemption(self, rid: str) -> Redemption:
        return redemption_of(await self._get(rid))

    async def redemptions_page(
        self,
        *,
        driver_id: str | None,
        state: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Redemption]:
        query: Document = {}
        if driver_id:
            query["driver_id"] = driver_id
        if state:
            query["state"] = state
        docs = await self.redemptions.page(query, after=after, limit=limit)
        return [redemption_of(d) for d in docs]

    async def _get(self, rid: str) -> Document:
        doc = await self.redemptions.get(rid)
        if doc is None:
            raise RedemptionNotFound(rid)
        return doc

    async def _move(self, rid: str, from_state: str, fields: Document) -> Document | None:
        return await self.redemptions.move(rid, from_state, {**fields, "updated_at": self._clock()})
