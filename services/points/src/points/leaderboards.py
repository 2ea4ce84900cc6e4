"""Monthly leaderboards ("star of the month"): top earners of a fleet or a grid.

Points earned in a month are the account's ``earned.<month>`` (awards and positive
adjustments, net of reversals), so a reversed award leaves the board too. Only driver ids and
points are shown: the points service holds no names. Equal points share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from points.store.leaderboards import Standings

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
Group = Literal["fleet", "grid"]


@dataclass(frozen=True)
class Standing:
    rank: int
    driver_id: str
    points: int


class Leaderboards:
    def __init__(self, standings: Standings) -> None:
        self._standings = standings

    async def monthly(self, group: Group, value: str, month: str, limit: int) -> list[Standing]:
        if not MONTH.match(month):
            raise ValueError("month must be YYYY-MM")
        rows = await self._standings.top(group, value, month, limit)
        board: list[Standing] = []
        for position, (driver_id, points) in enumerate(rows, start=1):
            rank = board[-1].rank if board and board[-1].points == points else position
            board.append(Standing(rank, driver_id, points))
        return board
