"""The points mall: a reward catalogue and redemptions, reserve → fulfil | cancel | expire.

rewards.py holds the catalogue and its stock, redemptions.py the redemption records, their
codes and the steps between states; this module the use cases drivers and counters call.

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

import hmac
from datetime import datetime, timedelta

from common.clock import Clock
from common.faults import Faults
from common.logging import describe_error, get_logger
from points.domain import AccountNotActive, InsufficientPoints, PointsError, entry_id
from points.redemptions import (
    MALL_SOURCE,
    CodeLocked,
    Document,
    InvalidTransition,
    KeyReused,
    NotAllowedHere,
    Redemption,
    RedemptionSteps,
    Reservation,
    WrongCode,
    code_hash,
    display_code,
    new_code,
    redemption_id_for,
    redemption_of,
)
from points.rewards import OutOfStock, RewardCatalogue, RewardNotFound, reward_of
from points.service import PointsService
from points.store.redemptions import CANCEL_NOTE, MOVING, RedemptionStore
from points.store.rewards import RewardStore

log = get_logger(__name__)

MAX_CODE_FAILURES = 5


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
        self.catalogue = RewardCatalogue(rewards, clock=clock)
        self.steps = RedemptionSteps(
            service,
            rewards,
            redemptions,
            reservation_days=reservation_days,
            faults=faults or Faults(),
            clock=clock,
        )
        self.sweep_after = timedelta(seconds=sweep_after_seconds)
        self._clock = clock

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
        if request_key is not None and (existing := await self.steps.redemptions.get(rid)):
            return await self._replay(existing, request)
        account = await self.steps.service.get_account(driver_id)
        if account.status != "active":
            raise AccountNotActive(account.status)
        reward_doc = await self.steps.rewards.get(reward_id)
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
        existing = await self.steps.redemptions.insert(doc)
        if existing is not None:
            return await self._replay(existing, request)
        try:
            final = await self.steps.advance(rid)
        except AccountNotActive:
            # Closed by the driver's erasure after the check above: the redemption just stored
            # must not keep their id.
            await self.steps.service.forget_if_erased(driver_id)
            raise
        shown = display_code(code) if final["state"] == "reserved" else None
        return Reservation(redemption_of(final), shown, created=True)

    async def _replay(self, existing: Document, request: str) -> Reservation:
        if existing.get("request") != request:
            raise KeyReused("this Idempotency-Key was used for another reward")
        doc = await self.steps.advance(str(existing["_id"]))
        code = None
        if doc["state"] == "reserved":
            doc, code = await self._new_code(doc)
        return Reservation(redemption_of(doc), code, created=False)

    async def reissue_code(self, rid: str) -> tuple[Redemption, str]:
        """A new code for a reserved redemption (the old one stops working)."""
        doc = await self.steps.get(rid)
        if doc["state"] != "reserved":
            raise InvalidTransition(doc["state"], "given a new code")
        doc, code = await self._new_code(doc)
        if code is None:
            raise InvalidTransition(doc["state"], "given a new code")
        return redemption_of(doc), code

    async def _new_code(self, doc: Document) -> tuple[Document, str | None]:
        code = new_code()
        moved = await self.steps.redemptions.move(
            str(doc["_id"]),
            "reserved",
            {"code_hash": code_hash(str(doc["_id"]), code), "code_failures": 0},
        )
        if moved is None:
            return await self.steps.get(str(doc["_id"])), None
        return moved, display_code(code)

    async def fulfil(
        self, rid: str, code: str | None, *, by: str, counter_id: str | None
    ) -> Redemption:
        """Hand the reward over: at one of its counters against the code (once), or shipped."""
        doc = await self.steps.get(rid)
        if doc["state"] in MOVING:
            doc = await self.steps.advance(rid)
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
            # Each try takes one of the five before the code is compared, in one conditional
            # write: guesses sent at once cannot all be compared against one read's count.
            unlocked = {"state": "reserved", "code_failures": {"$not": {"$gte": MAX_CODE_FAILURES}}}
            if not await self.steps.redemptions.bump(rid, unlocked, {"code_failures": 1}):
                raise CodeLocked("too many wrong codes: the driver must ask for a new code")
            hashed = code_hash(rid, code or "")
            if code is None or not hmac.compare_digest(hashed, str(doc.get("code_hash"))):
                raise WrongCode("the code does not match")
            condition |= {"code_hash": hashed}
        moved = await self.steps.redemptions.move(
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
            current = await self.steps.get(rid)
            if current["state"] == "reserved" and current["expires_at"] <= now:
                raise InvalidTransition("expired", "fulfilled")
            if current["state"] == "reserved":
                raise WrongCode("the code does not match")
            raise InvalidTransition(current["state"], "fulfilled")
        await self.steps.settle_stock(moved)
        return redemption_of(moved)

    async def cancel(self, rid: str, *, by: str, reason: str) -> Redemption:
        """Refund the points and return the unit, each exactly once however often asked."""
        return redemption_of(await self._cancel(rid, by=by, reason=reason, outcome="cancelled"))

    async def _cancel(self, rid: str, *, by: str, reason: str, outcome: str) -> Document:
        for _ in range(10):
            doc = await self.steps.get(rid)
            if doc["state"] in ("reserving", "paying"):
                doc = await self.steps.advance(rid)
            if doc["state"] in ("cancelling", "cancelled", "expired"):
                return await self.steps.advance(rid)
            if doc["state"] != "reserved":
                raise InvalidTransition(doc["state"], "cancelled")
            # The refund's reason (in the ledger and its announcement on points.events) names
            # the redemption only; what the canceller wrote (a driver's own words) stays here.
            cancel = {"by": by, "reason": f"redemption {rid} {outcome}", "outcome": outcome}
            moved = {"state": "cancelling", "cancel": cancel, CANCEL_NOTE: reason}
            if await self.steps.move(rid, "reserved", moved):
                return await self.steps.advance(rid)
        raise RuntimeError(f"redemption {rid} kept changing")

    async def expire_due(self) -> int:
        """Expire reservations past their time (idempotent; several instances may run it)."""
        expired = 0
        for doc in await self.steps.redemptions.due(self._clock()):
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
        finished = await self.steps.finish_stale(self._clock() - self.sweep_after)
        await self.expire_due()
        return finished

    # reading ------------------------------------------------------------------------------
    async def redemption(self, rid: str) -> Redemption:
        return redemption_of(await self.steps.get(rid))

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
        docs = await self.steps.redemptions.page(query, after=after, limit=limit)
        return [redemption_of(d) for d in docs]
