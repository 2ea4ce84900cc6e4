"""Handlers for events that earn points (stations and partner topics): each event becomes one
:class:`~points.earning.Earning`, and the refusals that can never succeed become dead letters.

Earning events first pass the driver's ``points`` consent (``points.consents``); a
compensation a caseworker granted is not earning and does not."""

from __future__ import annotations

from typing import Any

from common.dispatch import EventHandler
from common.events import CloudEvent, EventData, InvalidEvent
from common.events.mutual_help import HelpCompleted
from points.consents import EarningConsent
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
    def __init__(self, service: PointsService, consent: EarningConsent) -> None:
        self._service = service
        self._consent = consent

    async def on_domain_event(self, event: CloudEvent, data: EventData) -> None:
        account = await self._consent.require(event)
        await self._earn(Earning.of(event, partner=False), account)

    async def on_partner_event(self, event: CloudEvent, data: EventData) -> None:
        account = await self._consent.require(event)
        await self._earn(Earning.of(event, partner=True), account)

    async def on_compensation(self, event: CloudEvent, data: EventData) -> None:
        await self._earn(Earning.of(event, partner=False), None)

    async def _earn(self, earning: Earning, account: dict[str, Any] | None) -> None:
        try:
            await self._service.earn_or_park(earning, account=account)
        except ConflictingEntry as exc:
            raise InvalidEvent(
                "conflicting_duplicate",
                f"({earning.source}, {earning.event_id}) was already received with a different "
                "payload",
            ) from exc
        except (EventInFuture, CompensationAboveMaximum) as exc:
            raise InvalidEvent(exc.code, exc.message) from exc
