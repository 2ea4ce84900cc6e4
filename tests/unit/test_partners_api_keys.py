"""Partners' API keys as a use case, against an in-memory store: no Kafka, no MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from partners.api_keys import ApiKeys
from partners.domain import NotFound, Partner, PartnerNotFound

Document = dict[str, Any]
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


class FakeKeys:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def add(self, doc: Document) -> None:
        assert doc["_id"] not in self.docs
        self.docs[doc["_id"]] = dict(doc)

    async def get(self, key_id: str) -> Document | None:
        return self.docs.get(key_id)

    async def of_partner(self, partner_id: str) -> list[Document]:
        return [d for d in self.docs.values() if d["partner_id"] == partner_id]

    async def end(self, partner_id: str, key_id: str, at: datetime, field: str) -> Document | None:
        doc = self.docs.get(key_id)
        if doc is None or doc["partner_id"] != partner_id:
            return None
        if doc["expires_at"] is not None and doc["expires_at"] <= at:
            return None
        doc.update({"expires_at": at, field: at})
        return doc

    async def claim_replacement(
        self, partner_id: str, key_id: str, now: datetime, until: datetime
    ) -> bool:
        doc = self.docs.get(key_id)
        if doc is None or doc["partner_id"] != partner_id:
            return False
        if doc["replaced_at"] is not None or doc["revoked_at"] is not None:
            return False
        if doc["expires_at"] is not None and doc["expires_at"] <= now:
            return False
        if doc["expires_at"] is None or doc["expires_at"] > until:
            doc["expires_at"] = until
        doc["replaced_at"] = until
        return True


class FakePartners:
    async def get(self, partner_id: str) -> Partner:
        if partner_id not in ("port-booking", "station-kiosk"):
            raise PartnerNotFound(partner_id)
        return Partner(
            partner_id=partner_id,
            name=partner_id,
            allowed_types=[],
            created_at=NOW,
            updated_at=NOW,
        )


@pytest.fixture
def clock() -> list[datetime]:
    return [NOW]


@pytest.fixture
def keys(clock: list[datetime]) -> ApiKeys:
    return ApiKeys(FakeKeys(), FakePartners(), clock=lambda: clock[0])


async def test_a_key_stands_for_its_partner_with_its_own_scopes_only(keys: ApiKeys) -> None:
    key, doc = await keys.issue("port-booking", ["events:write"], created_by="op-1")
    principal = await keys.principal(key)
    assert principal is not None
    assert (principal.role, principal.partner_id) == ("partner", "port-booking")
    assert principal.scopes == {"events:write"}
    assert key.split(".", 1)[1] not in str(doc)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # another secret
        lambda k: k.split(".")[0],  # no secret at all
        lambda k: "dhk_" + "f" * 16 + "." + k.split(".", 1)[1],  # another key's id
        lambda k: "dhk_" + "x" * 100 + ".y",  # an id no key has
    ],
)
async def test_anything_but_the_exact_key_is_refused(keys: ApiKeys, mangle: Any) -> None:
    key, _ = await keys.issue("port-booking", ["events:read"], created_by="op-1")
    assert await keys.principal(mangle(key)) is None


async def test_a_replaced_key_works_through_its_overlap_then_stops(
    keys: ApiKeys, clock: list[datetime]
) -> None:
    old, old_doc = await keys.issue("port-booking", ["events:write"], created_by="op-1")
    new, _ = await keys.issue(
        "port-booking",
        ["events:write"],
        created_by="op-1",
        replaces=old_doc["_id"],
        overlap=timedelta(hours=2),
    )
    clock[0] = NOW + timedelta(hours=1)
    assert await keys.principal(old) is not None
    clock[0] = NOW + timedelta(hours=2)
    assert await keys.principal(old) is None
    assert await keys.principal(new) is not None


async def test_a_key_with_a_lifetime_expires_and_a_revoked_key_stops_at_once(
    keys: ApiKeys, clock: list[datetime]
) -> None:
    short, _ = await keys.issue(
        "port-booking", ["events:read"], created_by="op-1", valid_for=timedelta(days=1)
    )
    clock[0] = NOW + timedelta(days=1)
    assert await keys.principal(short) is None
    other, doc = await keys.issue("port-booking", ["events:read"], created_by="op-1")
    revoked = await keys.revoke("port-booking", doc["_id"])
    assert revoked["revoked_at"] == clock[0]
    assert await keys.principal(other) is None
    # Revoking again answers the same record; it stays stopped.
    assert (await keys.revoke("port-booking", doc["_id"]))["revoked_at"] == clock[0]


async def test_no_partner_replaces_or_revokes_another_partners_key(keys: ApiKeys) -> None:
    theirs, doc = await keys.issue("station-kiosk", ["events:write"], created_by="op-1")
    with pytest.raises(NotFound):
        await keys.revoke("port-booking", doc["_id"])
    with pytest.raises(NotFound):
        await keys.issue("port-booking", ["events:write"], created_by="x", replaces=doc["_id"])
    assert await keys.principal(theirs) is not None
    with pytest.raises(PartnerNotFound):
        await keys.issue("nobody", ["events:write"], created_by="op-1")
