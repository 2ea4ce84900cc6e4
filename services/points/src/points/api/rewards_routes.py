"""The mall's reward catalogue: browse, read, add, change, restock and withdraw rewards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from common.pagination import PageParams, encode_cursor
from common.problems import Problem
from common.schemas import QueryBool
from points.api.mall_dependencies import (
    Anyone,
    MallDep,
    MallManager,
    problem_of,
)
from points.api.mall_schemas import (
    RewardChange,
    RewardPage,
    RewardRequest,
    RewardStockView,
    RewardView,
    StockChange,
)
from points.rewards import OutOfStock, RewardExists, RewardNotFound

router = APIRouter(prefix="/v1")


# catalogue ------------------------------------------------------------------------------------
@router.get("/rewards", response_model=RewardPage, tags=["mall"], summary="Browse the rewards")
async def browse_rewards(
    principal: Anyone,
    mall: MallDep,
    page: Annotated[PageParams, Depends()],
    category: Annotated[str | None, Query(max_length=40)] = None,
    channel: Annotated[str | None, Query(pattern="^(online|counter)$")] = None,
    counter_id: Annotated[str | None, Query(max_length=64)] = None,
    include_inactive: QueryBool = False,
) -> RewardPage:
    after = page.after.get("id") if page.after else None
    if after is not None and not isinstance(after, str):
        raise Problem(400, "Bad Request", "the cursor is not valid")
    rewards = await mall.catalogue.browse(
        category=category,
        channel=channel,
        counter_id=counter_id,
        include_inactive=include_inactive and principal.role == "operator",
        after=after,
        limit=page.limit,
    )
    full = len(rewards) == page.limit
    next_cursor = encode_cursor({"id": rewards[-1].reward_id}) if full else None
    return RewardPage(items=[RewardView.of(r) for r in rewards], next_cursor=next_cursor)


@router.get(
    "/rewards/{reward_id}",
    response_model=RewardStockView | RewardView,
    tags=["mall"],
    summary="One reward (operators also see units held and handed over)",
)
async def get_reward(reward_id: str, principal: Anyone, mall: MallDep) -> Any:
    try:
        reward = await mall.catalogue.reward(reward_id)
    except RewardNotFound as exc:
        raise problem_of(exc) from exc
    if principal.role == "operator":
        return RewardStockView.model_validate(reward.model_dump())
    if not reward.active:
        raise Problem(404, "Not Found", "no such reward")
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
    try:
        reward = await mall.catalogue.add_reward(body.reward_id, spec)
    except RewardExists as exc:
        raise problem_of(exc) from exc
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
    try:
        current = await mall.catalogue.reward(reward_id)
        channel = changes.get("channel", current.channel)
        counters = changes.get("counters", current.counters)
        if (channel == "counter") != bool(counters):
            raise Problem(
                422, "Unprocessable Content", "counter rewards, and only they, name counters"
            )
        reward = await mall.catalogue.change_reward(reward_id, changes)
    except RewardNotFound as exc:
        raise problem_of(exc) from exc
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
    try:
        reward = await mall.catalogue.restock(reward_id, body.delta)
    except (RewardNotFound, OutOfStock) as exc:
        raise problem_of(exc) from exc
    return RewardStockView.model_validate(reward.model_dump())


@router.delete(
    "/rewards/{reward_id}",
    status_code=204,
    tags=["mall"],
    summary="Withdraw a reward (kept for its redemptions; open reservations stay valid)",
)
async def withdraw_reward(reward_id: str, _: MallManager, mall: MallDep) -> Response:
    try:
        await mall.catalogue.change_reward(reward_id, {"active": False})
    except RewardNotFound as exc:
        raise problem_of(exc) from exc
    return Response(status_code=204)
