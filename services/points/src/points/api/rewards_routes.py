"""The mall's reward catalogue: browse, read, add, change, restock and withdraw rewards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from common.pagination import AfterId, PageQuery
from common.problems import Problem
from common.schemas import QueryBool
from points.api.mall_dependencies import Anyone, MallDep, MallManager
from points.api.mall_schemas import (
    RewardChange,
    RewardPage,
    RewardRequest,
    RewardStockView,
    RewardView,
    StockChange,
)
from points.rewards import RewardNotFound

router = APIRouter(prefix="/v1")


# catalogue ------------------------------------------------------------------------------------
@router.get("/rewards", response_model=RewardPage, tags=["mall"], summary="Browse the rewards")
async def browse_rewards(
    principal: Anyone,
    mall: MallDep,
    page: PageQuery,
    category: Annotated[str | None, Query(max_length=40)] = None,
    channel: Annotated[str | None, Query(pattern="^(online|counter)$")] = None,
    counter_id: Annotated[str | None, Query(max_length=64)] = None,
    include_inactive: QueryBool = False,
) -> RewardPage:
    position = page.after(AfterId)
    rewards = await mall.catalogue.browse(
        category=category,
        channel=channel,
        counter_id=counter_id,
        include_inactive=include_inactive and principal.role == "operator",
        after=position.id if position else None,
        limit=page.limit,
    )
    last = AfterId(id=rewards[-1].reward_id) if rewards else None
    next_cursor = page.next_if_full(len(rewards), last)
    return RewardPage(items=[RewardView.of(r) for r in rewards], next_cursor=next_cursor)


@router.get(
    "/rewards/{reward_id}",
    response_model=RewardStockView | RewardView,
    tags=["mall"],
    summary="One reward (operators also see units held and handed over)",
)
async def get_reward(reward_id: str, principal: Anyone, mall: MallDep) -> Any:
    reward = await mall.catalogue.reward(reward_id)
    if principal.role == "operator":
        return RewardStockView.model_validate(reward.model_dump())
    if not reward.active:
        raise RewardNotFound(reward_id)
    return RewardView.of(reward)


@router.post(
    "/rewards",
    status_code=201,
    response_model=RewardStockView,
    tags=["mall"],
    summary="Add a reward to the catalogue",
)
async def add_reward(body: RewardRequest, _: MallManager, mall: MallDep) -> RewardStockView:
    spec = body.model_dump(exclude={"reward_id"})
    reward = await mall.catalogue.add_reward(body.reward_id, spec)
    return RewardStockView.model_validate(reward.model_dump())


@router.patch(
    "/rewards/{reward_id}",
    response_model=RewardStockView,
    tags=["mall"],
    summary="Change a reward (name, category, cost, channel, counters, active)",
)
async def change_reward(
    reward_id: str, body: RewardChange, _: MallManager, mall: MallDep
) -> RewardStockView:
    changes = body.model_dump(exclude_unset=True)
    current = await mall.catalogue.reward(reward_id)
    channel = changes.get("channel", current.channel)
    counters = changes.get("counters", current.counters)
    if (channel == "counter") != bool(counters):
        raise Problem(422, "Unprocessable Content", "counter rewards, and only they, name counters")
    reward = await mall.catalogue.change_reward(reward_id, changes, checked_on=current)
    return RewardStockView.model_validate(reward.model_dump())


@router.post(
    "/rewards/{reward_id}/stock",
    response_model=RewardStockView,
    tags=["mall"],
    summary="Add (or remove) available units",
)
async def restock(
    reward_id: str, body: StockChange, _: MallManager, mall: MallDep
) -> RewardStockView:
    reward = await mall.catalogue.restock(reward_id, body.delta)
    return RewardStockView.model_validate(reward.model_dump())


@router.delete(
    "/rewards/{reward_id}",
    status_code=204,
    tags=["mall"],
    summary="Withdraw a reward (kept for its redemptions; open reservations stay valid)",
)
async def withdraw_reward(reward_id: str, _: MallManager, mall: MallDep) -> Response:
    await mall.catalogue.change_reward(reward_id, {"active": False})
    return Response(status_code=204)
