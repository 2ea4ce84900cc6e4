"""Partner links that need the driver's word: a partner asks, the driver confirms or refuses.

A partner that registers a driver the registry already knows (over HTTP or its topic) only
leaves a pending request (registration_merge); knowing an ID number is no consent. The driver
confirms it with their own token, or gives one partner a one-time code that the partner
redeems. Either way the link and the event announcing it (``driver.partner_linked.v1``) are
one single-document update; withdrawing is announced by ``driver.partner_unlinked.v1``.
Every service answering partners follows those events (common.partner_links).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.events.registry import DriverPartnerLinked, DriverPartnerUnlinked
from registry.domain import Conflict, Driver, LinkCode, NotFound, PartnerLink
from registry.records import DriverRecords

# Unambiguous characters: a driver reads the code out or types it.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_PURPOSE = "partner_link_code"
MAX_OPEN_CODES = 5


@dataclass(frozen=True)
class LinkPolicy:
    code_ttl: timedelta = timedelta(minutes=15)
    request_ttl: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    partner_id: str
    expires_at: datetime


class PartnerLinking:
    def __init__(self, records: DriverRecords, policy: LinkPolicy | None = None) -> None:
        self._records = records
        self._policy = policy or LinkPolicy()

    async def of_driver(self, driver_id: str) -> Driver:
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        return driver

    async def confirm(self, driver_id: str, partner_id: str) -> PartnerLink:
        """The driver accepts a partner's pending request (their own token, checked by the
        caller's route and again here by the request having to exist)."""
        driver = await self.of_driver(driver_id)
        request = driver.request_of(partner_id)
        now = self._records.now()
        if request is None or now - request.requested_at > self._policy.request_ttl:
            raise NotFound("link request")
        link = PartnerLink(
            partner_id=partner_id,
            partner_driver_ref=request.partner_driver_ref,
            linked_at=now,
            basis="consent",
        )
        written = await self._link(
            driver_id,
            link,
            when={"link_requests.partner_id": partner_id},
            pull={"link_requests": {"partner_id": partner_id}},
        )
        if not written:
            raise Conflict("the request was answered meanwhile", code="link-request-answered")
        return link

    async def issue_code(self, driver_id: str, partner_id: str) -> IssuedCode:
        """A one-time code for one partner; the driver hands it over, the partner redeems it."""
        await self.of_driver(driver_id)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        entry = LinkCode(
            hash=self._digest(partner_id, code),
            partner_id=partner_id,
            expires_at=self._records.now() + self._policy.code_ttl,
        )
        # Only the newest few codes are kept: an older one, given and forgotten, stops working.
        await self._records.drivers.update(
            driver_id,
            when={"erased": False},
            push={"link_codes": {"$each": [entry.model_dump()], "$slice": -MAX_OPEN_CODES}},
        )
        return IssuedCode(code=code, partner_id=partner_id, expires_at=entry.expires_at)

    async def redeem_code(
        self, partner_id: str, code: str, ref: str | None
    ) -> tuple[str, PartnerLink]:
        """A partner redeems the code a driver gave it; any other code is simply unknown."""
        digest = self._digest(partner_id, code.strip().upper())
        driver = await self._records.drivers.by_link_code(digest)
        now = self._records.now()
        entry = next((c for c in driver.link_codes if c.hash == digest), None) if driver else None
        if driver is None or entry is None or entry.expires_at <= now:
            raise NotFound("link code")
        known = driver.link_of(partner_id)
        link = PartnerLink(
            partner_id=partner_id,
            partner_driver_ref=ref or (known.partner_driver_ref if known else None),
            linked_at=known.linked_at if known else now,
            basis=known.basis if known else "consent",
        )
        # The code is spent in the same update that links: it works once.
        written = await self._link(
            driver.driver_id,
            link,
            when={"link_codes.hash": digest},
            pull={"link_codes": {"hash": digest}, "link_requests": {"partner_id": partner_id}},
        )
        if not written:
            raise NotFound("link code")
        return driver.driver_id, link

    async def withdraw(self, driver_id: str, partner_id: str) -> None:
        """The driver ends a link, or refuses a pending request; unknown partners change nothing."""
        driver = await self.of_driver(driver_id)
        if driver.request_of(partner_id) is not None:
            await self._records.drivers.update(
                driver_id, pull={"link_requests": {"partner_id": partner_id}}
            )
        if not driver.is_linked_to(partner_id):
            return
        now = self._records.now()
        event = DriverPartnerUnlinked(driver_id=driver_id, partner_id=partner_id, unlinked_at=now)
        await self._records.drivers.update(
            driver_id,
            when={"erased": False},
            set_={"updated_at": now},
            pull={"partner_links": {"partner_id": partner_id}},
            outbox=[self._records.outbox(event, driver_id)],
        )
        await self._records.announce(driver_id)

    async def _link(
        self, driver_id: str, link: PartnerLink, *, when: dict[str, object], pull: dict[str, object]
    ) -> bool:
        event = DriverPartnerLinked(
            driver_id=driver_id,
            partner_id=link.partner_id,
            basis=link.basis,
            linked_at=link.linked_at,
            partner_driver_ref=link.partner_driver_ref,
        )
        # Replace any link of this partner: one update cannot pull and push the same array,
        # so the new list is set whole, conditional on the list read.
        driver = await self._records.get_driver(driver_id)
        links = [x for x in driver.partner_links if x.partner_id != link.partner_id] + [link]
        written = await self._records.drivers.update(
            driver_id,
            when={"erased": False, "updated_at": driver.updated_at, **when},
            set_={
                "partner_links": [x.model_dump() for x in links],
                "updated_at": self._records.now(),
            },
            pull=pull,
            outbox=[self._records.outbox(event, driver_id)],
        )
        if written:
            await self._records.announce(driver_id)
        return written

    def _digest(self, partner_id: str, code: str) -> str:
        return self._records.pii.hash(CODE_PURPOSE, f"{partner_id}|{code}")
