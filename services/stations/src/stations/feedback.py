"""Drivers' ratings of their visits and a station's summary of them."""

from __future__ import annotations

from common.clock import Clock, utc_now
from stations.checkins import Checkins
from stations.directory import Directory
from stations.domain import CheckinNotFound, Feedback, NotYourVisit
from stations.store.feedback import FeedbackStore


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
        if checkin.status == "refused":
            raise NotYourVisit(f"check-in {checkin_id} was refused: it is no visit to rate")
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
