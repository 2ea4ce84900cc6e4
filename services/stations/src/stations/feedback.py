"""Drivers' ratings of their visits and a station's summary of them."""

from __future__ import annotations

import re

from common.clock import Clock, utc_now
from common.logging import scrub
from stations.checkins import Checkins
from stations.directory import Directory
from stations.domain import CheckinNotFound, CommentRefused, Feedback, NotYourVisit
from stations.store.feedback import FeedbackStore

# Five digits in a row or more: a phone or ID number, or most of one (as honours refuse them).
_NUMBER_RUN = re.compile(r"\d{5,}")


class Ratings:
    def __init__(
        self,
        feedback: FeedbackStore,
        *,
        directory: Directory,
        checkins: Checkins,
        clock: Clock = utc_now,
    ) -> None:
        self._feedback = feedback
        self._directory = directory
        self._checkins = checkins
        self.now = clock

    async def rate_visit(
        self, checkin_id: str, driver_id: str, rating: int, comment: str | None
    ) -> Feedback:
        checkin = await self._checkins.get_checkin(checkin_id)
        if checkin.driver_id != driver_id:  # answered exactly as a check-in that does not exist
            raise CheckinNotFound(f"no check-in {checkin_id}")
        if checkin.status != "counted":
            # A refused, flagged or duplicate report is no visit of its own: one visit, one rating.
            raise NotYourVisit(f"check-in {checkin_id} is {checkin.status}: no visit to rate")
        if comment is not None and (_NUMBER_RUN.search(comment) or scrub(comment) != comment):
            # Every station, driver and operator reads the comments for a year.
            raise CommentRefused("a comment carries no phone or ID number")
        feedback = Feedback(
            checkin_id=checkin_id,
            station_id=checkin.station_id,
            driver_id=driver_id,
            rating=rating,
            comment=comment,
            created_at=self.now(),
        )
        await self._feedback.insert(feedback)
        return feedback

    async def ratings(
        self, station_id: str, recent: int
    ) -> tuple[int, float | None, list[Feedback]]:
        await self._directory.get_station(station_id)
        count, total = await self._feedback.summary(station_id)
        average = round(total / count, 2) if count else None
        return count, average, await self._feedback.recent(station_id, recent)
