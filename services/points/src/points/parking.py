"""Earning events held for a driver without an active account: parked and announced once,
applied when the account opens or thaws (service.py), or given up when held too long.

Giving up puts the event on its own topic's DLQ, where the record came from, with reason
``driver_unknown`` or ``account_not_active``: the partner sees it among its rejections and an
operator can replay it; nothing is deleted before it is there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from common.bus import Publisher, current_delivery
from common.clock import Clock
from common.dlq import DeadLetter, dlq_topic
from common.events import DOMAIN_EVENTS, CloudEvent, new_event
from common.events.points import EventParked
from common.logging import get_logger
from common.outbox import OutboxRelay, outbox_entry
from common.partners import PARTNER_SOURCE_PREFIX
from points.domain import AccountNotActive
from points.ledger import EVENT_SOURCE, TOPIC
from points.store.parked import Origin, Parked, ParkedEvents, parked_key

log = get_logger(__name__)

RelayRef = Callable[[], OutboxRelay | None]


def parked_reason(exc: Exception) -> str:
    return "account_not_active" if isinstance(exc, AccountNotActive) else "driver_unknown"


class Parking:
    def __init__(
        self,
        parked: ParkedEvents,
        publisher: Publisher,
        *,
        hold: timedelta,
        physical_topic: Callable[[str], str],
        consumer_group: Callable[[str], str],
        relay: RelayRef,
        clock: Clock,
    ) -> None:
        self.parked = parked
        self._publisher = publisher
        self._hold = hold
        self._physical = physical_topic
        self._group = consumer_group
        self._relay = relay
        self._clock = clock

    async def park(self, event: CloudEvent, *, partner: bool, reason: str) -> None:
        now = self._clock()
        until = now + self._hold
        delivery = current_delivery()
        origin = (
            Origin(delivery.topic, delivery.partition, delivery.offset, delivery.group_id)
            if delivery is not None
            else None
        )
        key = parked_key(event)
        announcement = new_event(
            EventParked(
                driver_id=event.subject,
                cause_source=event.source,
                cause_id=event.id,
                cause_type=event.type,
                reason="account_not_active" if reason == "account_not_active" else "driver_unknown",
                parked_at=now,
                parked_until=until,
            ),
            source=EVENT_SOURCE,
            subject=event.subject,
            # One announcement per held event, however often the event is delivered.
            event_id=f"parked:{uuid.uuid5(uuid.NAMESPACE_URL, key)}",
            time=now,
        )
        await self.parked.park(
            event,
            partner=partner,
            reason=reason,
            now=now,
            until=until,
            origin=origin,
            announcement=outbox_entry(TOPIC, announcement),
        )
        await self.announce(key)

    async def announce(self, key: str) -> None:
        """Publish the parked announcement if it is still pending (else the sweeper will)."""
        relay = self._relay()
        if relay is not None:
            await relay.flush(self.parked.collection, key)

    async def release(self, held: Parked) -> None:
        """The event was applied: the announcement goes out first, then the hold is gone."""
        await self.announce(held.key)
        await self.parked.release(held.key)

    async def give_up(self, held: Parked) -> None:
        await self.announce(held.key)
        origin = held.origin or self._origin_of(held.event)
        letter = DeadLetter(
            reason=held.reason,
            error=(
                f"{held.event.type} held since {held.parked_at.isoformat()}: the driver it "
                f"names had no active points account by {self._clock().isoformat()}"
            ),
            group_id=origin.group_id,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
        )
        await self._publisher.publish_raw(
            dlq_topic(origin.topic), held.event.subject, held.event.to_bytes(), letter.headers()
        )
        await self.parked.release(held.key)
        log.warning(
            "parked event given up",
            topic=origin.topic,
            event_type=held.event.type,
            reason=held.reason,
        )

    def _origin_of(self, event: CloudEvent) -> Origin:
        """For events parked before the record's position was kept: the topic they belong on."""
        if event.source.startswith(PARTNER_SOURCE_PREFIX):
            partner_id = event.source.removeprefix(PARTNER_SOURCE_PREFIX)
            return Origin(
                self._physical(f"partner.{partner_id}.events"), -1, -1, self._group("partners")
            )
        topic = next((t for t, types in DOMAIN_EVENTS.items() if event.type in types), TOPIC)
        return Origin(self._physical(topic), -1, -1, self._group(topic))
