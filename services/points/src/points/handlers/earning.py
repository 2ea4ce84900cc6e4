"""Handlers for events that earn points (stations and partner topics): each event becomes one
:class:`~points.earning.Earning`, and the refusals that can never succeed become dead letters."""

from __future__ import annotations

from common.dispatch import EventHandler
from common.events import CloudEvent, EventData, InvalidEvent
from common.events.mutual_help import HelpCompleted
from points.earning import CompensationAboveMaximum, Earning, EventInFuture
from points.ledger import ConflictingEntry
from points.service import PointsService


def helping(handler: EventHandler) -> EventHandler:
    """A mutual help (``help.completed.v1``) earns for the helper, not for the driver helped
    (the event's subject): ``handler`` gets the event as the helper's, so points' key, consent
    check and caps follow the helper. Helpers who are not drivers earn nothing here."""

    async def handle(event: CloudEvent, data: EventData) -> None:
        if not isinstance(data, HelpCompleted) or data.helper_kind != "driver":
            return
        await handler(event.model_copy(update={"subject": data.helper_id}), data)

    return handle


class EarningHandlers:
    def __init__(self, service: PointsService) -> None:
        self._service = service

    async def on_domain_event(self, event: CloudEvent, data: EventData) -> None:
        await self._earn(Earning.of(event, partner=False))

    async def on_partner_event(self, event: CloudEvent, data: EventData) -> None:
        await self._earn(Earning.of(event, partner=True))

    async def _earn(self, earning: Earning) -> None:
        try:
            await self._service.earn_or_park(earning)
        except ConflictingEntry as exc:
            raise InvalidEvent(
                "conflicting_duplicate",
                f"({earning.source}, {earning.event_id}) was already received with a different "
                "payload",
            ) from exc
        except (EventInFuture, CompensationAboveMaximum) as exc:
            raise InvalidEvent(exc.code, exc.message) from exc
