"""Earning events held for an operator's decision (older than the accepted window, or a
station's attendance awards past its monthly threshold): listed, approved (credited once,
however often asked) or refused (never credited). Holding them is the earning path's
(service.py); deciding them is this module's."""

from __future__ import annotations

from common.clock import Clock
from points.domain import Entry, PointsError
from points.service import PointsService
from points.store.review import Held, HeldForReview


class HoldNotFound(PointsError):
    problem_detail = "no such held event"


class HoldDecided(PointsError):
    """The hold was decided otherwise already (approved holds cannot be refused, nor back)."""


class Holds:
    def __init__(self, service: PointsService, held: HeldForReview | None, clock: Clock) -> None:
        self._service = service
        self._held = held
        self._clock = clock

    async def pending(self, *, after: str | None, limit: int) -> list[Held]:
        return [] if self._held is None else await self._held.pending(after=after, limit=limit)

    async def approve(self, key: str, *, operator: str) -> tuple[Held, Entry | None]:
        """Credit a held event as if received now; asked again, it finishes and answers alike."""
        held = await self._hold(key)
        if held.state == "refused":
            raise HoldDecided(f"{key} was refused")
        if held.state == "pending" and self._held is not None:
            await self._held.decide(
                key, "approved", operator=operator, note=None, now=self._clock()
            )
            held = await self._hold(key)
            if held.state != "approved":
                raise HoldDecided(f"{key} was refused")
        # Decided first, credited second: a crash in between is finished by asking again, and
        # the entry's id (the event's own) credits it once however often it is asked.
        entry = await self._service.credit_or_park(held.earning)
        return held, entry

    async def refuse(self, key: str, *, operator: str, reason: str) -> Held:
        held = await self._hold(key)
        if held.state == "pending" and self._held is not None:
            await self._held.decide(
                key, "refused", operator=operator, note=reason, now=self._clock()
            )
            held = await self._hold(key)
        if held.state != "refused":
            raise HoldDecided(f"{key} was approved")
        return held

    async def _hold(self, key: str) -> Held:
        held = await self._held.get(key) if self._held is not None else None
        if held is None:
            raise HoldNotFound(key)
        return held
