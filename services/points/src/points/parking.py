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
from common.events import DOMAIN_EVENTS, new_event
from common.events.points import EventParked
from common.logging import get_logger
from common.outbox import RelayRef, outbox_entry
from common.partners import PARTNER_SOURCE_PREFIX
from points.domain import AccountNotActive
from points.earning import Earning
from points.ledger import EVENT_SOURCE, TOPIC
from points.store.parked import Origin, Parked, ParkedEvents

log = get_logger(__name__)


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

    async def park(self, earning: Earning, *, reason: str) -> None:
        now = self._clock()
        until = now + self._hold
        delivery = current_delivery()
        origin = (
            Origin(delivery.topic, delivery.partition, delivery.offset, delivery.group_id)
            if delivery is not None
            else None
        )
        key = earning.key
        announcement = new_event(
            EventParked(
                driver_id=earning.driver_id,
                cause_source=earning.source,
                cause_id=earning.event_id,
                cause_type=earning.event_type,
                reason="account_not_active" if reason == "account_not_active" else "driver_unknown",
                parked_at=now,
                parked_until=until,
            ),
            source=EVENT_SOURCE,
            subject=earning.driver_id,
            # One announcement per held event, however often the event is delivered.
            event_id=f"parked:{uuid.uuid5(uuid.NAMESPACE_URL, key)}",
            time=now,
        )
        await self.parked.park(
            earning,
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
        origin = held.origin or self._origin_of(held.earning)
        letter = DeadLetter(
            reason=held.reason,
            error=(
                f"{held.earning.event_type} held since {held.parked_at.isoformat()}: the driver it "
                f"names had no active points account by {self._clock().isoformat()}"
            ),
            group_id=origin.group_id,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
        )
        await self._publisher.publish_raw(
            dlq_topic(origin.topic),
            held.earning.driver_id,
            held.earning.payload,
            letter.headers(),
        )
        await self.parked.release(held.key)
        log.warning(
            "parked event given up",
            topic=origin.topic,
            event_type=held.earning.event_type,
            reason=held.reason,
        )

    def _origin_of(self, earning: Earning) -> Origin:
        """For events parked before the record's position was kept: the topic they belong on."""
        if earning.source.startswith(PARTNER_SOURCE_PREFIX):
            partner_id = earning.source.removeprefix(PARTNER_SOURCE_PREFIX)
            return Origin(
                self._physical(f"partner.{partner_id}.events"), -1, -1, self._group("partners")
            )
        topic = next(
            (t for t, types in DOMAIN_EVENTS.items() if earning.event_type in types), TOPIC
        )
        return Origin(self._physical(topic), -1, -1, self._group(topic))
