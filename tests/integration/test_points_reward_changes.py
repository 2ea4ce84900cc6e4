"""A reward change is checked against the reward it read (a counter reward names counters, an
online one none) and written only while the reward still has that channel and those counters,
so two changes made at once cannot leave a reward nobody can hand over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from points.app import create_app
from points.settings import PointsSettings
from tests.integration.test_points_mall import add_reward, parts
from tests.support import serve


async def test_a_change_checked_on_a_reward_changed_meanwhile_is_refused(
    make_settings: Callable[..., PointsSettings], token: Callable[..., dict[str, str]]
) -> None:
    app = create_app(make_settings(PointsSettings))
    async with serve(app) as http:
        _, mall = parts(app)
        reward = await add_reward(mall, cost=30, stock=5, channel="counter", counters=["c-01"])
        manager = token("operator", scope="mall:manage")
        stale = [await mall.catalogue.reward(reward)]
        # Meanwhile another manager makes it an online reward (no counters): valid on its own.
        online = await http.patch(
            f"/v1/rewards/{reward}",
            json={"channel": "online", "counters": []},
            headers=manager,
        )
        assert online.status_code == 200, online.text
        real_read = mall.catalogue.reward

        async def read_before_the_other_change(wanted: str) -> Any:
            return stale.pop() if stale else await real_read(wanted)

        mall.catalogue.reward = read_before_the_other_change  # type: ignore[method-assign]
        try:
            # Checked on the counter reward, it names counters: valid there, not on an online one.
            late = await http.patch(
                f"/v1/rewards/{reward}", json={"counters": ["c-02"]}, headers=manager
            )
        finally:
            mall.catalogue.reward = real_read  # type: ignore[method-assign]
        now = await mall.catalogue.reward(reward)
    assert late.status_code == 409, late.text
    assert (now.channel, now.counters) == ("online", [])
