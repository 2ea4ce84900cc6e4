"""The operator console in a real browser (Debian's Chromium driven by Playwright) over the real
services, broker and store: roles see only what they may, a phone is revealed with a reason and
audited, a case moves dispatch → accept → resolve, an adjustment lands in the ledger, a
broadcast goes out. Each page is screenshotted (test-output/console/) and checked with axe-core;
no request may leave 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, expect

from common.testing import (
    Infra,
    read_topic,
    synthetic_national_id,
    synthetic_phone,
    unique_name,
    wait_until,
)
from tests.browser.harness import Stack, accessibility_problems, auth, screenshot, start_stack
from tests.support import produce

pytestmark = pytest.mark.e2e

PHONE = synthetic_phone()
OPERATOR = auth("operator")


@pytest.fixture(scope="module")
async def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async for running in start_stack(infra, tmp_path_factory.mktemp("console")):
        yield running


@pytest.fixture(autouse=True)
def stays_on_127_0_0_1(stack: Stack) -> Iterator[None]:
    """Fails the test during which the browser asked for anything off 127.0.0.1, or a page
    logged an error (a script or style the Content Security Policy refused, say)."""
    before, errors = len(stack.external), len(stack.page_errors)
    yield
    assert stack.external[before:] == [], f"requests left 127.0.0.1: {stack.external[before:]}"
    assert stack.page_errors[errors:] == [], f"page errors (CSP?): {stack.page_errors[errors:]}"


@pytest.fixture(scope="module")
async def driver(stack: Stack) -> dict[str, str]:
    """One registered driver (synthetic numbers) with an open points account, known to notify."""
    plate = f"浙B{unique_name('')[-5:].upper()}"
    plate = re.sub(r"[^0-9A-Z浙]", "7", plate)
    body = {
        "name": "李海平",
        "phone": PHONE,
        "national_id": synthetic_national_id(),
        "plate": plate,
        "fleet": f"宁波港集卡车队{unique_name('')[-4:]}",
    }
    made = await stack.api("registry", "POST", "/v1/drivers", OPERATOR, json=body)
    driver_id = made["driver_id"]

    async def account() -> object:
        try:
            return await stack.api("points", "GET", f"/v1/accounts/{driver_id}", OPERATOR)
        except AssertionError:
            return None

    async def welcomed() -> object:
        # notify has taken the registration in (its facts give the broadcast test's fleet).
        inbox = await stack.api("notify", "GET", f"/v1/drivers/{driver_id}/inbox", OPERATOR)
        return inbox["items"] or None

    await wait_until(account, timeout=30)
    await wait_until(welcomed, timeout=30)
    return {"driver_id": driver_id, "plate": plate}


TABLET = {"width": 768, "height": 1024}


async def checked(page: Page, name: str, **options: Any) -> None:
    """Screenshot the page at 1280 and 768 px and fail on serious or critical accessibility
    violations, or on a page wider than the tablet (usable there without sideways scrolling)."""
    await screenshot(page, name, **options)
    problems = await accessibility_problems(page)
    assert not problems, f"{name}: {problems}"
    wide = page.viewport_size
    if wide is None or wide["width"] <= TABLET["width"]:
        return  # taken at tablet width already
    await page.set_viewport_size(TABLET)
    try:
        overflow = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
        await screenshot(page, f"{name}-768", **options)
    finally:
        await page.set_viewport_size(wide)
    assert overflow <= 0, f"{name} is {overflow} px wider than a 768-px tablet"


def nav(page: Page, name: str) -> Locator:
    return page.locator(f"nav a[data-nav={name}]")


async def test_each_role_sees_only_what_it_may(stack: Stack, driver: dict[str, str]) -> None:
    context = await stack.context()
    page = await stack.sign_in(context, "auditor-1", "auditor")
    await expect(nav(page, "drivers")).to_be_visible()
    await expect(nav(page, "cases")).to_have_count(0)
    await expect(nav(page, "broadcasts")).to_have_count(0)
    await expect(nav(page, "dlq")).to_have_count(0)  # no dlq:read: no dead-letter queues
    # No partners:manage: no partners link, and the partners service refuses the page.
    await expect(nav(page, "partners")).to_have_count(0)
    answer = await page.goto(f"{stack.console}/partners")
    assert answer is not None and answer.status == 403
    await page.goto(f"{stack.console}/")
    await expect(page.locator("[data-figure=drivers]")).to_be_visible()
    await checked(page, "home-auditor")
    await page.goto(f"{stack.console}/drivers/{driver['driver_id']}")
    # Masked data only; no reveal form without pii:read, but the access audit is visible.
    await expect(page.locator("[data-field=phone]")).to_contain_text("*")
    await expect(page.locator("#reveal")).to_have_count(0)
    await expect(page.locator("#audit")).to_be_visible()
    await page.goto(f"{stack.console}/drivers/{driver['driver_id']}/points")
    await expect(page.locator("[data-figure=balance]")).to_be_visible()
    await expect(page.locator("form[action$='/points/adjustments']")).to_have_count(0)
    simulate = page.locator("a[data-link=simulate]")
    await expect(simulate).to_have_attribute("href", f"/rules?driver_id={driver['driver_id']}")
    await context.close()

    context = await stack.context()
    page = await stack.sign_in(context, "dispatcher-0", "case_dispatcher")
    await expect(nav(page, "cases")).to_be_visible()
    await expect(nav(page, "drivers")).to_have_count(0)
    await expect(page.locator("[data-figure=drivers]")).to_have_count(0)
    await context.close()

    # No roles: nothing to see, and the services refuse the pages' calls anyway.
    context = await stack.context()
    page = await stack.sign_in(context, "nobody-1")
    await expect(page.locator("nav a[data-nav]")).to_have_count(0)
    answer = await page.goto(f"{stack.console}/drivers/{driver['driver_id']}")
    assert answer is not None and answer.status == 403
    await context.close()


async def test_english_switch_and_csrf(stack: Stack) -> None:
    context = await stack.context()
    page = await stack.sign_in(context, "clerk-9", "registry_clerk")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await page.click("[data-lang-switch]")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Today")
    # A form posted without the session's CSRF token is refused.
    refused = await page.request.post(f"{stack.console}/signout", form={"csrf": "forged"})
    assert refused.status == 403
    await context.close()


async def test_find_a_driver_reveal_the_phone_with_a_reason_and_see_the_audit(
    stack: Stack, driver: dict[str, str]
) -> None:
    context = await stack.context()
    page = await stack.sign_in(context, "officer-7", "registry_clerk", "security_officer")
    await page.click("nav a[data-nav=drivers]")
    await page.fill("#plate", driver["plate"])
    await page.click("form.filters button[type=submit] >> nth=0")
    await checked(page, "drivers-search")
    await page.click(f"a[href='/drivers/{driver['driver_id']}']")
    await expect(page.locator("[data-field=phone]")).to_contain_text("*")
    await checked(page, "driver")

    await page.select_option("#purpose", "case_handling")
    await page.fill("#case_ref", "CASE-42")
    await page.click("#reveal button[type=submit]")
    revealed = page.locator("[data-revealed=phone]")
    await expect(revealed).to_be_visible()
    # Compared by digest: a failure message must not print the number.
    shown = hashlib.sha256((await revealed.inner_text()).encode()).hexdigest()
    assert shown == hashlib.sha256(PHONE.encode()).hexdigest(), "the revealed phone differs"
    # The screenshot must not hold the number: blank it in the page first (Playwright's own
    # masks inject a style the page's Content Security Policy refuses).
    await revealed.evaluate("element => { element.textContent = '•••••••••••'; }")
    await checked(page, "driver-revealed")
    await context.close()

    # An auditor (who may not reveal) sees who revealed what, when and why.
    context = await stack.context()
    page = await stack.sign_in(context, "auditor-2", "auditor")
    await page.goto(f"{stack.console}/drivers/{driver['driver_id']}")
    row = page.locator("table[data-table=audit] tbody tr").filter(has_text="officer-7")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("CASE-42")
    await expect(row).to_contain_text("工单办理")
    await expect(page.locator("[data-list=inbox] li").first).not_to_have_text("无")
    await checked(page, "driver-audit")
    await context.close()


async def test_adjustments_land_in_the_ledger_and_large_ones_wait_for_a_second_person(
    stack: Stack, driver: dict[str, str]
) -> None:
    context = await stack.context()
    page = await stack.sign_in(context, "points-1", "points_admin")
    await page.goto(f"{stack.console}/drivers/{driver['driver_id']}/points")
    before = int(await page.locator("[data-figure=balance]").inner_text())
    await page.fill("#amount", "50")
    await page.fill("#reason", "志愿服务补录")
    await page.click("form[action$='/points/adjustments'] button[type=submit]")
    await expect(page.locator("table[data-table=ledger]")).to_contain_text("志愿服务补录")
    await expect(page.locator("[data-figure=balance]")).to_have_text(str(before + 50))

    # A large one waits for a second person: nothing moves, and its maker may not approve it.
    await page.fill("#amount", "600")
    await page.fill("#reason", "年度优秀志愿者")
    await page.click("form[action$='/points/adjustments'] button[type=submit]")
    await expect(page.locator("[data-notice=waiting]")).to_be_visible()
    pending = page.locator("table[data-table=pending] tbody tr").filter(has_text="年度优秀志愿者")
    await expect(pending).to_have_count(1)
    await expect(pending.locator("[data-decide]")).to_have_count(0)
    await expect(page.locator("[data-figure=balance]")).to_have_text(str(before + 50))
    await checked(page, "points-waiting")
    await context.close()

    context = await stack.context()
    page = await stack.sign_in(context, "points-2", "points_admin")
    await page.goto(f"{stack.console}/drivers/{driver['driver_id']}/points")
    await page.click("table[data-table=pending] [data-decide=approve]")
    await expect(page.locator("[data-figure=balance]")).to_have_text(str(before + 650))
    await expect(page.locator("table[data-table=ledger]")).to_contain_text("年度优秀志愿者")
    await expect(page.locator("table[data-table=pending]")).to_have_count(0)
    await checked(page, "points")
    # Both approved adjustments count in today's district figure behind the home page's.
    await page.goto(f"{stack.console}/points/today")
    manual = page.locator("table[data-table=points-today] [data-figure=awarded-adjustments]")
    assert int(await manual.inner_text()) >= 650
    await checked(page, "points-today")
    await context.close()


async def test_a_case_moves_through_dispatch_accept_and_resolve(stack: Stack) -> None:
    driver_id = unique_name("drv_")
    opened = await stack.api(
        "cases",
        "POST",
        "/v1/cases",
        auth("driver", driver_id=driver_id, sub=f"sub-{driver_id}"),
        json={
            "driver_id": driver_id,
            "kind": "complaint",
            "category": "freight_payment",
            "description": "运费拖欠三个月",
        },
    )
    case_id = opened["case"]["case_id"]
    unit = unique_name("U")

    context = await stack.context()
    page = await stack.sign_in(context, "dispatcher-1", "case_dispatcher")
    await page.click("nav a[data-nav=cases]")
    await expect(page.locator("table[data-table=cases]")).to_contain_text(case_id)
    await checked(page, "cases")
    await page.click(f"a[href='/cases/{case_id}']")
    # A dispatcher is offered dispatch and reject, never a handler's steps.
    await expect(page.locator("form[data-action=dispatch]")).to_be_visible()
    await expect(page.locator("form[data-action=accept]")).to_have_count(0)
    await checked(page, "case-received")
    await page.fill("#units-dispatch", unit)
    await page.click("form[data-action=dispatch] button[type=submit]")
    await expect(page.locator("[data-field=status]")).to_have_text("assigned")
    await expect(page.locator("form[data-action=dispatch]")).to_have_count(0)
    await expect(page.locator("form[data-action=accept]")).to_have_count(0)
    await context.close()

    context = await stack.context()
    page = await stack.sign_in(context, "handler-1", "case_handler", unit=unit)
    # On a station's tablet: the queue filtered to the handler's unit.
    await page.set_viewport_size({"width": 768, "height": 1024})
    await page.goto(f"{stack.console}/cases")
    await page.select_option("#f-unit", unit)
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("table[data-table=cases]")).to_contain_text(case_id)
    await checked(page, "cases-tablet")
    await page.goto(f"{stack.console}/cases/{case_id}")
    await expect(page.locator("form[data-action=dispatch]")).to_have_count(0)
    await page.click("form[data-action=accept] button[type=submit]")
    await expect(page.locator("[data-field=status]")).to_have_text("in_progress")
    await page.select_option("#outcome-resolve", "upheld")
    await page.fill("#note-resolve", "运费已结清")
    await page.click("form[data-action=resolve] button[type=submit]")
    await expect(page.locator("[data-field=status]")).to_have_text("resolved")
    await expect(page.locator("form[data-action=revisit]")).to_have_count(0)
    await checked(page, "case-resolved")
    await context.close()

    # A revisit agent (outside the handling unit) asks the driver and records the answers.
    context = await stack.context()
    page = await stack.sign_in(context, "revisit-1", "case_revisit")
    await page.goto(f"{stack.console}/cases/{case_id}")
    await expect(page.locator("[data-empty=revisits]")).to_be_visible()
    await page.select_option("#satisfaction-revisit", "satisfied")
    await page.select_option("#solved-revisit", "solved")
    await page.click("form[data-action=revisit] button[type=submit]")
    await expect(page.locator("[data-field=status]")).to_have_text("closed")
    revisit = page.locator("table[data-table=revisits] tbody tr")
    await expect(revisit).to_have_count(1)
    await expect(revisit).to_contain_text("满意")
    await expect(revisit).to_contain_text("revisit-1")
    await checked(page, "case-revisited")
    await context.close()


async def test_a_broadcast_to_a_fleet_shows_its_progress(
    stack: Stack, driver: dict[str, str]
) -> None:
    found = await stack.api("registry", "GET", f"/v1/drivers/{driver['driver_id']}", OPERATOR)
    context = await stack.context()
    page = await stack.sign_in(context, "editor-1", "notify_editor")
    await page.click("nav a[data-nav=broadcasts]")
    # A warning is a service message: a marketing category would reach only drivers who gave
    # the notifications consent (issue 14), and this driver gave none.
    await page.select_option("#category", "policy")
    await page.select_option("#segment", "fleet")
    await page.fill("#segment_value", found["fleet"])  # notify keeps the fleet as named
    # The live count follows the segment fields (HTMX on change): the fleet's one driver...
    await page.press("#segment_value", "Tab")
    audience = page.locator("#audience [data-figure=audience]")
    await expect(audience).to_have_text("1")
    # ...and nobody for a marketing category, which needs a consent this driver never gave.
    await page.select_option("#category", "general")
    await expect(audience).to_have_text("0")
    await page.select_option("#category", "policy")
    await expect(audience).to_have_text("1")
    await page.fill("#title_zh", "台风预警")
    await page.fill("#body_zh", "请注意防范。")
    await checked(page, "broadcasts")
    await page.click("form[action='/broadcasts'] button[type=submit]")
    await expect(page.locator("[data-field=status]")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("[data-figure=targeted]")).to_have_text("1")
    await expect(page.locator("[data-figure=delivered]")).to_have_text("1")
    await expect(page.locator("#progress table[data-table=failures]")).to_have_count(0)
    await checked(page, "broadcast")
    await context.close()


async def test_the_rule_simulator_says_what_an_event_would_earn_and_why(
    stack: Stack, driver: dict[str, str]
) -> None:
    context = await stack.context()
    page = await stack.sign_in(context, "auditor-4", "auditor")
    await page.goto(f"{stack.console}/rules?driver_id={driver['driver_id']}")
    await expect(page.locator("#sim-driver")).to_have_value(driver["driver_id"])
    # Choosing an event type swaps in its example data (HTMX); two hours of volunteering.
    await expect(page.locator("#data")).not_to_contain_text("hours")
    await page.select_option("#event_type", "volunteer.logged.v1")
    await expect(page.locator("#data")).to_contain_text("hours")
    await page.click("form[data-form=simulate] button[type=submit]")
    result = page.locator("[data-simulation]")
    await expect(result).to_have_attribute("data-simulation", "awarded")
    await expect(result.locator("[data-figure=sim-points]")).to_have_text("20")
    await expect(result.locator("[data-field=rule]")).to_contain_text("volunteer")
    await expect(result.locator("[data-figure=earned-today]")).to_have_text("0")
    await checked(page, "rule-simulator")
    await context.close()


async def test_the_home_page_counts_open_cases_by_clock(stack: Stack) -> None:
    context = await stack.context()
    page = await stack.sign_in(context, "supervisor-1", "case_supervisor", "auditor")
    await expect(page.locator("[data-figure=cases-on_time]")).to_be_visible()
    await checked(page, "home-supervisor")
    await page.click("nav a[data-nav=figures]")
    await expect(page.locator("table[data-table=figures]").first).to_contain_text("/")
    await checked(page, "figures")
    await context.close()


async def station_with_an_activity(stack: Stack, driver_id: str) -> dict[str, str]:
    """A station with one activity the driver registered for and attended, and one rating."""
    # Markup in the name (its staff may edit it): every page and the map show it as text.
    name = f"霞浦集卡<i>司机之家</i>{unique_name('')[-4:]}"
    station_id = unique_name("stn_")
    body = {
        "station_id": station_id,
        "name": name,
        "kind": "drivers_home",
        "operator_org": "北仑区交通运输行业党委",
        "address": "宁波市北仑区霞浦街道",
        "location": {"lat": 29.9505, "lng": 121.9185},
        "hours": {"always_open": True},
        "capacity": {"beds": 10, "parking": 20, "showers": 4},
        "services": [{"code": "rest"}, {"code": "parking"}],
    }
    await stack.api("stations", "POST", "/v1/stations", OPERATOR, json=body)
    staff = auth("station", station_id=station_id)
    starts = datetime.now(UTC) + timedelta(hours=1)
    activity = await stack.api(
        "stations",
        "POST",
        f"/v1/stations/{station_id}/activities",
        staff,
        json={
            "kind": "health_check",
            "title": "集卡司机免费健康体检",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=3)).isoformat(),
            "capacity": 30,
        },
    )
    path = f"/v1/activities/{activity['activity_id']}"

    async def registered() -> object:  # once stations has heard of the driver from the registry
        try:
            return await stack.api(
                "stations", "POST", f"{path}/registrations", staff, json={"driver_id": driver_id}
            )
        except AssertionError:
            return None

    await wait_until(registered, timeout=30)
    await stack.api("stations", "POST", f"{path}/attendance", staff, json={"driver_id": driver_id})
    visit = await stack.api(
        "stations",
        "POST",
        "/v1/checkins",
        staff,
        json={"driver_id": driver_id, "station_id": station_id, "service_code": "rest"},
    )
    await stack.api(
        "stations",
        "POST",
        f"/v1/checkins/{visit['checkin_id']}/feedback",
        auth("driver", driver_id=driver_id),
        json={"rating": 5, "comment": "热水很足"},
    )
    return {"station_id": station_id, "name": name}


async def test_the_stations_map_and_a_stations_page(stack: Stack, driver: dict[str, str]) -> None:
    station = await station_with_an_activity(stack, driver["driver_id"])
    context = await stack.context()
    page = await stack.sign_in(context, "stations-1", "station_admin")
    await page.click("nav a[data-nav=stations]")
    row = page.locator("table[data-table=stations] tbody tr").filter(has_text=station["name"])
    await expect(row).to_contain_text("10 / 10")
    # Leaflet (vendored, no tiles) draws the district's outline and grid polygons from the
    # console's GeoJSON as SVG paths, and each station as a circle above them.
    board = page.locator("#stations-map")
    await expect(board).to_have_attribute("data-areas-drawn", re.compile(r"^\d+$"))
    await expect(board.locator("path.area-district")).to_have_count(1)
    assert await board.locator("path.area-grid").count() >= 37
    assert await board.locator("path.area-micro_grid").count() == 42
    markers = board.locator("path.station-marker")
    await expect(markers).to_have_count(1)
    await markers.first.hover()
    tooltip = board.locator(".leaflet-tooltip")
    await expect(tooltip).to_have_text(station["name"])
    assert await tooltip.locator("i").count() == 0, "the name became markup"
    await markers.first.click()
    await expect(board.locator(".leaflet-popup-content")).to_contain_text(station["name"])
    await expect(board.locator(".leaflet-popup-content")).to_contain_text("10 / 10")
    # Opaque at once (no fade), so the contrast check reads the colours a reader sees.
    await expect(board.locator(".leaflet-popup")).to_have_css("opacity", "1")
    await checked(page, "stations")

    await board.locator(".leaflet-popup-content a").click()
    await expect(page.locator("h1")).to_have_text(station["name"])
    await expect(page.locator("[data-field=hours]")).to_be_visible()
    activity = page.locator("table[data-table=activities] tbody tr").first
    await expect(activity.locator("[data-figure=registered]")).to_have_text("1 / 30")
    await expect(activity.locator("[data-figure=attended]")).to_have_text("1")
    await expect(page.locator("[data-list=feedback]")).to_contain_text("热水很足")
    await checked(page, "station")
    await context.close()

    # A station's own staff: their station's page on a tablet, no other station's.
    context = await stack.context()
    page = await context.new_page()
    await page.set_viewport_size({"width": 768, "height": 1024})
    await page.goto(f"{stack.console}/signin")
    await page.fill("#sub", "staff-1")
    await page.fill("#station", station["station_id"])
    await page.click("form[action='/signin/dev'] button[type=submit]")
    await page.wait_for_url(f"{stack.console}/")
    await expect(page.locator("nav a[data-nav]")).to_have_count(1)
    await page.click("nav a[data-nav=stations]")
    await expect(page.locator("h1")).to_have_text(station["name"])
    await expect(page.locator("[data-figure=attended]")).to_have_text("1")
    await screenshot(page, "station-staff-tablet")  # the same page axe checked above
    answer = await page.goto(f"{stack.console}/stations/BL-XP-000")
    assert answer is not None and answer.status == 403
    await context.close()


async def test_partner_accounts_and_their_rejections_for_partners_manage_only(
    stack: Stack, infra: Infra
) -> None:
    """A record of the traffic-safety partner's that the consumers refuse (a milestone of zero
    days) shows among its rejections with the reason. (An auditor's refusal: the roles test.)
    Another partner than the DLQ test's, whose counts this record must not change."""
    stack.expected_dead_letters.append("invalid_data")
    event_id = unique_name("safe-")
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "partner/traffic-safety",
        "type": "safety.milestone.v1",
        "subject": unique_name("drv_"),
        "time": datetime.now(UTC).isoformat(),
        "data": {"milestone": "days_without_violation", "days": 0},
    }
    await produce(
        infra.kafka_bootstrap,
        f"{stack.run}.partner.traffic-safety.events",
        json.dumps(event, ensure_ascii=False).encode(),
        key=event["subject"].encode(),
    )
    context = await stack.context()
    page = await stack.sign_in(context, "officer-2", "security_officer")
    await page.click("nav a[data-nav=partners]")
    row = page.locator("table[data-table=partners] tbody tr").filter(has_text="traffic-safety")
    await expect(row).to_contain_text("safety.milestone.v1")
    await expect(row.locator("[data-field=status]")).to_have_text("正常")
    await checked(page, "partners")
    await row.locator("a").click()
    rejection = page.locator("table[data-table=rejections] tbody tr").filter(has_text=event_id)

    async def listed() -> bool:
        await page.reload()
        return await rejection.count() > 0

    await wait_until(listed, timeout=30, interval=0.5)
    await expect(rejection.locator("[data-reason]").first).to_have_text("invalid_data")
    await checked(page, "partner")
    await context.close()


async def test_the_guard_refuses_a_request_off_127_0_0_1(stack: Stack) -> None:
    context = await stack.context()
    page = await context.new_page()
    count = len(stack.external)
    with pytest.raises(PlaywrightError):
        await page.goto("http://example.invalid/")
    assert stack.external[count:] == ["http://example.invalid/"]
    del stack.external[count:]  # refused on purpose: not this test's failure
    await context.close()


async def test_the_services_api_pages_load_without_leaving_127_0_0_1(stack: Stack) -> None:
    context = await stack.context()
    page = await context.new_page()
    await page.goto(f"{stack.urls['notify']}/docs")
    # Swagger UI renders the whole document before its title: seconds on a loaded machine.
    await expect(page.locator(".swagger-ui .info .title")).to_be_visible(timeout=15_000)
    await screenshot(page, "notify-swagger", full_page=False)
    await page.goto(f"{stack.urls['cases']}/redoc")
    await expect(page.locator("h1").first).to_be_visible(timeout=15_000)
    await screenshot(page, "cases-redoc", full_page=False)
    await context.close()


async def test_census_progress_the_mall_and_template_previews(
    stack: Stack, driver: dict[str, str]
) -> None:
    await stack.api("registry", "POST", "/v1/census/campaigns", OPERATOR, json={})
    context = await stack.context()
    page = await stack.sign_in(context, "auditor-3", "auditor")
    await page.click("nav a[data-nav=census]")
    await expect(page.locator("table[data-table=census] tbody tr").first).to_be_visible()
    await checked(page, "census")
    await page.click("nav a[data-nav=mall]")
    await expect(page.locator("[data-list=rules] li").first).to_be_visible()
    await checked(page, "mall")
    await expect(page.locator("nav a[data-nav=templates]")).to_have_count(0)
    await context.close()

    context = await stack.context()
    page = await stack.sign_in(context, "editor-2", "notify_editor")
    await page.click("nav a[data-nav=templates]")
    await page.click("[data-list=templates] a >> nth=0")
    for language in ("zh-CN", "en"):
        await expect(page.locator(f"[data-preview='{language}'] strong")).not_to_be_empty()
    await checked(page, "template-preview")
    await context.close()


async def test_an_operator_replays_a_dead_lettered_record(stack: Stack, infra: Infra) -> None:
    """A partner's record the consumers refused (hours out of range) is counted on the home
    page, listed with its reason and masked payload, and replayed by the operations role to its
    topic once; the record then shows who replayed it and why."""
    stack.expected_dead_letters.append("invalid_data")
    topic = f"{stack.run}.partner.volunteer-team.events"
    event = {
        "specversion": "1.0",
        "id": unique_name("vol-"),
        "source": "partner/volunteer-team",
        "type": "volunteer.logged.v1",
        "subject": unique_name("drv_"),
        "time": datetime.now(UTC).isoformat(),
        "data": {"activity": "港区道路清洁", "hours": 99, "contact_name": "王建国"},
    }
    raw = json.dumps(event, ensure_ascii=False).encode()
    await produce(infra.kafka_bootstrap, topic, raw, key=event["subject"].encode())
    ops = auth("operator", roles=["operations"])

    async def dead_lettered() -> object:
        answer = await stack.api("points", "GET", "/v1/dlq", ops)
        return any(t["records"] for t in answer["topics"])

    await wait_until(dead_lettered, timeout=20, interval=0.3)
    context = await stack.context()
    page = await stack.sign_in(context, "ops-1", "operations")
    figure = "[data-figure='dlq-points-partner.volunteer-team.events.dlq']"
    await expect(page.locator(figure)).to_have_text("1")
    await checked(page, "home-operations")
    await page.click("nav a[data-nav=dlq]")
    points = page.locator("section[data-service=points]")
    await expect(points.locator("[data-count$='volunteer-team.events.dlq']")).to_have_text("1")
    await checked(page, "dlq")
    await points.locator("a[data-queue='partner.volunteer-team.events.dlq']").click()
    await expect(page.locator("h1")).to_contain_text("points")
    record = page.locator("section.dead-letter").first
    await expect(record.locator("[data-reason]")).to_have_text("invalid_data")
    await record.locator("summary").click()
    await expect(record.locator("[data-payload]")).to_contain_text("王**")
    await expect(record.locator("[data-payload]")).not_to_contain_text("王建国")
    await record.locator("input[name=reason]").fill("合作方已修正时长，重新处理")
    await record.locator("form[data-form=replay] button").click()
    await expect(page.locator("p.notice[role=status]")).to_be_visible()
    await expect(record.locator("[data-replayed]")).to_contain_text("ops-1")
    await expect(record.locator("form[data-form=replay]")).to_have_count(0)
    await checked(page, "dlq-replayed")
    await context.close()
    # On the original topic once more: the partner's record and one replay of it.
    records = await read_topic(infra.kafka_bootstrap, topic, min_records=2)
    assert [r.value for r in records if json.loads(r.value)["id"] == event["id"]] == [raw, raw]
