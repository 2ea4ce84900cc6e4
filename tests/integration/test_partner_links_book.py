"""The partner link book every service keeps (common.partner_links), on the real store: the
newest fact about a link wins whatever order facts arrive in, and erasure forgets the driver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from common.auth import Principal
from common.events import new_event
from common.events.registry import (
    DriverDeactivated,
    DriverPartnerLinked,
    DriverPartnerUnlinked,
    DriverRegistered,
)
from common.mongo import ensure_indexes
from common.partner_links import INDEXES, PartnerLinkBook, following_links

T0 = datetime(2026, 12, 3, 8, tzinfo=UTC)


async def test_the_newest_fact_about_a_link_wins_and_erasure_forgets_the_driver(
    mongo: Any, run_id: str
) -> None:
    db = mongo[f"{run_id}_links"]
    await ensure_indexes(db, INDEXES)
    book = PartnerLinkBook(db)
    seen: list[str] = []

    async def own(event: Any, data: Any) -> None:
        seen.append(event.type)

    handlers = following_links(book, {"driver.registered.v1": own})
    facts: list[DriverRegistered | DriverPartnerLinked | DriverPartnerUnlinked] = [
        DriverRegistered(
            driver_id="d1", channel="partner", registered_at=T0, partner_id="port-booking"
        ),
        DriverPartnerLinked(
            driver_id="d1", partner_id="traffic-safety", basis="consent", linked_at=T0
        ),
        DriverPartnerUnlinked(
            driver_id="d1", partner_id="port-booking", unlinked_at=T0 + timedelta(hours=1)
        ),
        # A late, older fact changes nothing.
        DriverPartnerLinked(
            driver_id="d1", partner_id="port-booking", basis="consent", linked_at=T0
        ),
        DriverRegistered(driver_id="d2", channel="operator", registered_at=T0),
    ]
    for data in facts:
        event = new_event(data, source="driverhome/registry", subject=data.driver_id)
        await handlers[event.type](event, data)
    partner = Principal(sub="p", role="partner", partner_id="port-booking")
    safety = Principal(sub="s", role="partner", partner_id="traffic-safety")

    assert seen == ["driver.registered.v1", "driver.registered.v1"], "the service's own ran"
    assert await book.partners_of(["d1", "d2"]) == {"d1": {"traffic-safety"}}
    assert not await book.may_reach(partner, "d1") and await book.may_reach(safety, "d1")
    assert await book.may_reach(Principal(sub="o", role="operator"), "d2"), "not the book's call"

    erased = DriverDeactivated(driver_id="d1", deactivated_at=T0, reason="erasure", erased=True)
    event = new_event(erased, source="driverhome/registry", subject="d1")
    await handlers[event.type](event, erased)
    assert await db["partner_links"].count_documents({"driver_id": "d1"}) == 0
