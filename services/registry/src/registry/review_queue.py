"""The review queue: registration data that disagreed with the register, until an operator
accepts (the value is applied and announced) or rejects it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from common.events.registry import DriverUpdated
from registry.domain import Conflict, NotFound
from registry.lifecycle import Lifecycle
from registry.oversight import Review, ReviewDecision, ReviewStatus
from registry.records import Actor, Changes, DriverRecords
from registry.store.reviews import ReviewStore
from registry.vehicles import Vehicles

# How long a person's hold on a review lasts if a crash stops them before they resolve it.
REVIEW_HOLD = timedelta(minutes=2)


@dataclass(frozen=True)
class Sealed:
    """A proposed value shown only masked: the raw value keys the item, the sealed copy is
    what an accepted review applies."""

    raw: str
    enc: str


class ReviewQueue:
    def __init__(
        self,
        records: DriverRecords,
        reviews: ReviewStore,
        *,
        lifecycle: Lifecycle,
        vehicles: Vehicles,
    ) -> None:
        self._records = records
        self._reviews = reviews
        self._lifecycle = lifecycle
        self._vehicles = vehicles

    def proposal(
        self,
        driver_id: str,
        source: str,
        field_name: Any,
        reason: Any,
        proposed: str,
        *,
        current: str | None = None,
        sealed: Sealed | None = None,
        partner_id: str | None = None,
    ) -> Review:
        """A review item for a value that disagrees with (or cannot go into) the register."""
        # The id derives from the cause, so the same disagreement is queued once; keyed, so it
        # does not reveal the proposed value.
        digest = self._records.pii.digest(
            "review", f"{driver_id}|{source}|{field_name}|{sealed.raw if sealed else proposed}"
        )
        if partner_id is None and source.startswith("partner/"):
            partner_id = source.removeprefix("partner/").split("/")[0]
        return Review(
            review_id=f"rev_{digest[:32]}",
            driver_id=driver_id,
            source=source,
            field=field_name,
            reason=reason,
            current=current,
            proposed=proposed,
            proposed_enc=sealed.enc if sealed else None,
            partner_id=partner_id,
            created_at=self._records.now(),
        )

    async def add(self, review: Review) -> None:
        await self._reviews.add(review)

    async def items(
        self,
        *,
        status: ReviewStatus | None,
        driver_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Review]:
        return await self._reviews.page(
            status=status, driver_id=driver_id, after=after, limit=limit
        )

    async def resolve(self, review_id: str, decision: ReviewDecision, actor: Actor) -> Review:
        review = await self._reviews.get(review_id)
        if review is None:
            raise NotFound("review")
        if review.status != "open":
            raise Conflict("this review was already resolved", code="review-resolved")
        # Held before the decision is applied: two people deciding at once must not apply one
        # decision while the record names the other.
        now = self._records.now()
        if not await self._reviews.take(review_id, actor.sub, now, REVIEW_HOLD):
            raise Conflict("someone else is resolving this review", code="review-resolved")
        try:
            if decision == "accept":
                await self._accept(review, actor)
        except BaseException:
            await self._reviews.let_go(review_id, actor.sub)
            raise
        await self._reviews.resolve(
            review_id,
            "accepted" if decision == "accept" else "rejected",
            actor.sub,
            self._records.now(),
        )
        resolved = await self._reviews.get(review_id)
        assert resolved is not None
        return resolved

    async def _accept(self, review: Review, actor: Actor) -> None:
        if review.reason == "invalid_format":
            raise Conflict("an invalid value can only be rejected", code="invalid-value")
        if review.field == "name":
            await self._lifecycle.update_driver(review.driver_id, {"name": review.proposed}, actor)
        elif review.field == "phone":
            assert review.proposed_enc is not None
            phone = self._records.pii.decrypt("phone", review.proposed_enc)
            await self._lifecycle.update_driver(review.driver_id, {"phone": phone}, actor)
        elif review.field == "plate":
            await self._vehicles.add_vehicle(
                review.driver_id, review.proposed, "container_tractor", None, None
            )
        else:
            now = self._records.now()
            event = DriverUpdated(
                driver_id=review.driver_id,
                changed_fields=["partner_links"],
                updated_at=now,
                partner_id=review.partner_id,
                partner_driver_ref=review.proposed,
            )
            changes = Changes(
                set_={"partner_links.$.partner_driver_ref": review.proposed, "updated_at": now}
            )
            if not await self._records.write(
                review.driver_id,
                changes,
                event,
                when={"partner_links.partner_id": review.partner_id},
            ):
                raise Conflict("the partner link is gone", code="link-gone")
