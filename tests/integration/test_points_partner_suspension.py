"""A suspended partner reads no driver in points, on the real broker and store: its balance and
grade lookups answer 403 ``partner_suspended`` from the moment ``partners.events`` announces the
suspension (the partners gateway's answer), and again 200 once it announces the reinstatement.

Each test is one finding: it failed on the code before the fix and passes after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from common.events import new_event
from common.events.partners import PartnerReinstated, PartnerState, PartnerSuspended
from common.partner_directory import PARTNERS_TOPIC, PartnerDirectory
from common.partner_links import PartnerLinkBook
from common.partners import DEFAULT_PARTNERS
from common.settings import ServiceSettings
from common.testing import Infra, unique_name, wait_until
from points.app import create_app
from points.settings import PointsSettings
from tests.support import produce, serve

Token = Callable[..., dict[str, str]]
BOOKING = "port-booking"


async def announce(
    infra: Infra, settings: ServiceSettings, state: type[PartnerState], version: int
) -> None:
    """What the partners service announces once a suspension or reinstatement is approved."""
    fields: dict[str, Any] = {
        "partner_id": BOOKING,
        "name": "港口预约系统",
        "allowed_types": DEFAULT_PARTNERS[BOOKING],
        "status": "suspended" if state is PartnerSuspended else "active",
        "version": version,
        "changed_at": datetime.now(UTC),
    }
    if state is PartnerSuspended:
        fields["reason"] = "contract ended"
    event = new_event(state.model_validate(fields), source="driverhome/partners", subject=BOOKING)
    await produce(
        infra.kafka_bootstrap,
        settings.topic(PARTNERS_TOPIC),
        event.to_bytes(),
        key=BOOKING.encode(),
    )


async def read_as(directory: PartnerDirectory, status: str) -> bool:
    entry = directory.get(BOOKING)
    return entry is not None and entry.status == status


def refused_as_suspended(answer: httpx.Response) -> bool:
    return (
        answer.status_code == 403
        and answer.headers["content-type"].startswith("application/problem+json")
        and answer.json().get("reason") == "partner_suspended"
    )


async def test_a_suspended_partner_reads_no_balance_or_grade_until_reinstated(
    infra: Infra, make_settings: Callable[..., PointsSettings], token: Token, mongo: Any
) -> None:
    settings = make_settings(PointsSettings)
    app = create_app(settings)
    driver = unique_name("drv_")
    partner = token("partner", partner_id=BOOKING, scope="accounts:read grades:read")
    paths = [f"/v1/accounts/{driver}", f"/v1/accounts/{driver}/grade"]
    async with serve(app) as http:
        await app.state.service.open_account(driver, datetime.now(UTC))
        # As the registry's driver.partner_linked.v1 would: the booking system registered them.
        await PartnerLinkBook(mongo[settings.mongo_db]).note(
            BOOKING, driver, linked=True, at=datetime.now(UTC)
        )
        before = [(await http.get(p, headers=partner)).status_code for p in paths]
        directory = app.state.runtime.directory
        await announce(infra, settings, PartnerSuspended, 1)
        await wait_until(lambda: read_as(directory, "suspended"))
        during = [await http.get(p, headers=partner) for p in paths]
        operator = [(await http.get(p, headers=token())).status_code for p in paths]
        await announce(infra, settings, PartnerReinstated, 2)
        await wait_until(lambda: read_as(directory, "active"))
        after = [(await http.get(p, headers=partner)).status_code for p in paths]
    assert before == [200, 200]
    assert all(refused_as_suspended(a) for a in during), [a.text for a in during]
    assert operator == [200, 200], "operators keep reading"
    assert after == [200, 200], "the reinstatement lifts the refusal"
