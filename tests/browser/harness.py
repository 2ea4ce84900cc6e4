"""The console and the services it calls, each its own OS process on the real broker and store,
and a Chromium (Debian's, never a downloaded build) driven by Playwright.

One stack per test module: starting it creates one topic set and database set, deleted after.
Every request the browser makes is checked: one to anything but 127.0.0.1 is refused and fails
the test that made it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    async_playwright,
)

from common.auth import Role, issue_token
from common.settings import ServiceSettings
from common.testing import (
    Infra,
    ServiceProcess,
    dead_letters,
    drop_run,
    grant_run,
    revoke_run,
    unexpected_dead_letters,
    unique_name,
)

SERVICES = ("registry", "points", "notify", "cases", "stations", "partners")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "console"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
LOCAL_HOSTS = frozenset({"127.0.0.1"})


def chromium_path() -> str:
    """Debian's Chromium (scripts/bootstrap.sh installs it); DRIVERHOME_CHROMIUM overrides."""
    found = os.environ.get("DRIVERHOME_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise AssertionError("no chromium on PATH: run make bootstrap (apt-get install chromium)")
    return found


def auth(role: Role = "operator", **claims: Any) -> dict[str, str]:
    settings = ServiceSettings(environment="test")
    return {"Authorization": f"Bearer {issue_token(settings, role=role, **claims)}"}


@dataclass
class Stack:
    urls: dict[str, str]
    browser: Browser
    run: str
    external: list[str] = field(default_factory=list)
    # Console errors of the pages, e.g. "Refused to execute inline script" (CSP violations).
    page_errors: list[str] = field(default_factory=list)
    # Reasons a test dead-letters records for on purpose (the DLQ browser's); any other fails.
    expected_dead_letters: list[str] = field(default_factory=list)

    @property
    def console(self) -> str:
        return self.urls["console"]

    async def api(
        self, service: str, method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> Any:
        async with httpx.AsyncClient(base_url=self.urls[service], timeout=20) as http:
            answer = await http.request(method, path, headers=headers, **kwargs)
        assert answer.is_success, (service, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    async def context(self) -> BrowserContext:
        """A fresh browser profile whose every request must stay on 127.0.0.1."""
        context = await self.browser.new_context(
            locale="zh-CN", viewport={"width": 1280, "height": 900}
        )

        async def guard(route: Route) -> None:
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
                await route.continue_()
            else:
                self.external.append(route.request.url)
                await route.abort()

        await context.route("**/*", guard)

        def console_error(message: ConsoleMessage) -> None:
            # An HTTP error status is the test's own business (it checks the answers it expects).
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                self.page_errors.append(f"{message.text} at {message.location}")

        context.on("console", console_error)
        return context

    async def sign_in(self, context: BrowserContext, sub: str, *roles: str, unit: str = "") -> Page:
        page = await context.new_page()
        await page.goto(f"{self.console}/signin")
        await page.fill("#sub", sub)
        for role in roles:
            await page.check(f"input[name=roles][value={role}]")
        if unit:
            await page.fill("#unit", unit)
        await page.click("form[action='/signin/dev'] button[type=submit]")
        await page.wait_for_url(f"{self.console}/")
        return page


@functools.cache
def _axe_source() -> str:
    return AXE.read_text()


async def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(_axe_source())
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def screenshot(page: Page, name: str, **options: Any) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    options.setdefault("full_page", True)
    await page.screenshot(path=str(path), **options)
    return path


def _env(infra: Infra, run: str) -> dict[str, str]:
    return {
        "DRIVERHOME_ENVIRONMENT": "test",
        "DRIVERHOME_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DRIVERHOME_MONGO_URL": infra.mongo_url,
        "DRIVERHOME_TOPIC_PREFIX": f"{run}.",
        "DRIVERHOME_TOPIC_PARTITIONS": "2",
        "DRIVERHOME_OUTBOX_SWEEP_SECONDS": "0.5",
        "DRIVERHOME_CONSUMER_BACKOFF_MAX_SECONDS": "1",
    }


async def start_stack(infra: Infra, logs: Path) -> AsyncIterator[Stack]:
    run = unique_name("t")
    grants = await grant_run(infra, run)
    env = _env(infra, run)
    started: list[ServiceProcess] = []
    stack: Stack | None = None
    try:
        for name in SERVICES:
            process = ServiceProcess(
                name, {**env, "DRIVERHOME_MONGO_DB": f"{run}_{name}"}, logs / f"{name}.log"
            )
            process.start()
            started.append(process)
        urls = {p.name: p.url for p in started}
        console = ServiceProcess(
            "console",
            {
                "DRIVERHOME_ENVIRONMENT": "test",
                # Over http://127.0.0.1 the browser keeps Secure cookies as well.
                **{f"DRIVERHOME_{name.upper()}_URL": url for name, url in urls.items()},
            },
            logs / "console.log",
        )
        console.start()
        started.append(console)
        await asyncio.gather(*(p.wait_ready() for p in started))
        urls["console"] = console.url
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium_path())
            stack = Stack(urls=urls, browser=browser, run=run)
            try:
                yield stack
            finally:
                await browser.close()
    finally:
        for process in started:
            process.stop()
        expected = tuple(stack.expected_dead_letters) if stack is not None else ()
        try:
            report = unexpected_dead_letters(
                await dead_letters(infra.kafka_bootstrap, f"{run}."), expected or None
            )
        finally:
            await drop_run(infra, run)
            await revoke_run(infra, grants)
        assert not report, report
