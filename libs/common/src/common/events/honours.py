"""Events of honours (issue 17), announced by the cases service on ``cases.events``.

One ``honour.awarded.v1`` per winner when a round (a category for a month or a year) is
announced: the winner is the subject (notify congratulates them, points adds the bonus of its
rule for the category). Ids, category, period and vote counts only; never a nomination's reason.
One ``honour.round_announced.v1`` per round, for the public announcement (notify broadcasts it):
the winners with the display name the secretary gave (never a phone or ID number).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from common.events.base import EventData

# 每月之星 (monthly), 示范标兵 model drivers, 安全标兵 safety models, 首善探头 good samaritans.
HonourCategory = Literal["monthly_star", "model_driver", "safety_model", "good_samaritan"]


class HonourAwarded(EventData):
    """A panel chose the driver for an honour and the round was announced: notify congratulates
    the driver, points adds the bonus of its rule for the category."""

    event_type: ClassVar[str] = "honour.awarded.v1"

    honour_id: str = Field(description="The round and the driver: one per winner and round")
    driver_id: str
    category: HonourCategory = Field(description="Which honour")
    period: str = Field(description="YYYY-MM for monthly honours, YYYY for yearly ones")
    votes: int = Field(ge=0)
    panel_size: int = Field(ge=0, description="How many panel members voted in the round")
    announced_at: AwareDatetime


class HonourWinner(BaseModel):
    model_config = ConfigDict(frozen=True)

    driver_id: str
    display_name: str | None = Field(
        default=None,
        description="How the announcement names the winner (e.g. 王师傅); never a phone or ID "
        "number; absent: named without a name",
    )
    votes: int = Field(ge=0)


class HonourRoundAnnounced(EventData):
    """A round's winners were announced: notify broadcasts them to the district or each
    winner's fleet (by its setting for the category), naming them by display name only.
    The subject is the round id (category:period)."""

    event_type: ClassVar[str] = "honour.round_announced.v1"

    round_id: str = Field(description="category:period; one announcement per round")
    category: HonourCategory
    period: str = Field(description="YYYY-MM for monthly honours, YYYY for yearly ones")
    winners: list[HonourWinner] = Field(min_length=1, max_length=30)
    announced_at: AwareDatetime
