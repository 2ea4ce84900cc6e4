"""Events of festival campaigns (issue 17: 春送岗位, 夏送清凉, 秋送助学, 冬送温暖), announced by the
cases service on ``cases.events``: a gift or aid allotted to each driver of a segment, to be
collected at a station, and the station's confirmation of the delivery; hardship visits (困难走访).
Ids, dates and times only."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from common.events.base import EventData

Season = Literal["spring_jobs", "summer_cool", "autumn_study", "winter_warmth"]


class GiftAllotted(EventData):
    """A campaign allotted its gift to the driver, to collect at a station by a date."""

    event_type: ClassVar[str] = "aid.gift_allotted.v1"

    campaign_id: str
    driver_id: str
    season: Season = Field(description="春送岗位, 夏送清凉, 秋送助学 or 冬送温暖")
    gift: str = Field(description="What the driver collects, as the campaign names it")
    station_id: str = Field(description="Where the driver collects it")
    collect_by: AwareDatetime
    allotted_at: AwareDatetime


class GiftDelivered(EventData):
    """The station confirmed it handed the campaign's gift to the driver."""

    event_type: ClassVar[str] = "aid.gift_delivered.v1"

    campaign_id: str
    driver_id: str
    station_id: str
    delivered_at: AwareDatetime


class HardshipVisited(EventData):
    """Staff visited a driver's family in hardship (困难走访); what they found stays in cases."""

    event_type: ClassVar[str] = "aid.hardship_visited.v1"

    visit_id: str
    driver_id: str
    visited_on: date
    follow_up: Literal["none", "aid", "case"] = Field(
        description="What the visit leads to: nothing more, an aid application or a case"
    )
    recorded_at: AwareDatetime
