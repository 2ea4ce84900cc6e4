"""The mall's reward catalogue and its stock: add, read, change, restock and browse rewards.

How a unit is taken, held and given back is the redemption's business (``points.mall``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.clock import Clock
from points.domain import PointsError
from points.store.rewards import RewardStore

Document = dict[str, Any]
Channel = Literal["online", "counter"]


class RewardNotFound(PointsError):
    problem_detail = "no such reward"


class RewardExists(PointsError):
    problem_detail = "a reward with this id exists"


class RewardChanged(PointsError):
    problem_detail = "the reward's channel or counters changed meanwhile: read it and ask again"


class OutOfStock(PointsError):
    problem_detail = "out of stock"

    def problem_members(self) -> dict[str, Any]:
        return {"reason": "out of stock"}


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


class RewardCatalogue:
    def __init__(self, rewards: RewardStore, *, clock: Clock) -> None:
        self.rewards = rewards
        self._clock = clock

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

    async def change_reward(
        self, reward_id: str, changes: dict[str, Any], *, checked_on: Reward | None = None
    ) -> Reward:
        """``checked_on``: the reward the change was checked against (a counter reward names
        counters, an online one none); the write finds its channel and counters unchanged, so
        two changes checked on the same reward cannot together leave one that breaks the rule."""
        # Cost changes apply to new reservations; open ones keep the cost they were taken at.
        doc = await self.rewards.update(
            reward_id,
            {**changes, "updated_at": self._clock()},
            when=_as_checked(checked_on) if checked_on is not None else None,
        )
        if doc is None:
            await self.reward(reward_id)  # raises RewardNotFound
            raise RewardChanged(reward_id)
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


def _as_checked(reward: Reward) -> dict[str, Any]:
    counters: dict[str, Any] = (
        {"counters": list(reward.counters)}
        if reward.counters
        else {"$or": [{"counters": []}, {"counters": None}]}  # none: empty, or never stored
    )
    return {"channel": reward.channel, **counters}
