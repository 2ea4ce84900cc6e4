"""The examples of docs/partners.md run as written.

Every ``sh``/``bash`` block of the partner's guide is run with bash, in order, in one shell
session (variables a block sets, such as ``TOKEN`` or ``DRIVER_ID``, carry over to the next),
from the repository's root (``make token`` runs there), against a gateway this test serves on
127.0.0.1, with registry and points running so that events are applied. ``GATEWAY`` and
``WEBHOOK_URL`` are the two variables the guide asks the reader to set; the webhook block gets
``BODY``, ``TS`` and ``SIG`` from a notice the gateway really posted.

Each block has one entry in ``EXAMPLES`` below: a phrase it must contain (so a reordered guide
fails here rather than checking the wrong block), what its output must show, and whether it is
a read that may be repeated until the answer shows it (receipts and lookups change moments
after the 202). A ``json`` block right after an example is its answer: every field it shows must be
in the real answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from common.testing import REPO_ROOT, Infra
from partners.app import create_app as partners_app
from partners.settings import PartnersSettings
from points.app import create_app as points_app
from points.settings import PointsSettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from tests.support import Webhook, produce, serve, webhook_receiver

GUIDE = REPO_ROOT / "docs" / "partners.md"
TOOLS = ("bash", "curl", "jq", "openssl", "make")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
RUNNABLE = {"sh", "bash", "shell"}
POLL_SECONDS = 60.0


@dataclass
class Block:
    lang: str
    text: str
    line: int
    answer: Any = None  # the json block that follows it, if any


def blocks(markdown: str) -> list[Block]:
    """The fenced code blocks, dedented by their fence's indentation (as Markdown does)."""
    found: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, body, start = len(opened["indent"]), [], i + 1
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            i += 1
        found.append(Block(opened["lang"], "\n".join(body) + "\n", start))
        i += 1
    examples: list[Block] = []
    for index, block in enumerate(found):
        if block.lang in RUNNABLE:
            examples.append(block)
        elif block.lang == "json" and index and found[index - 1].lang in RUNNABLE:
            found[index - 1].answer = json.loads(block.text)
    return examples


@dataclass
class Session:
    """One bash session spread over several processes: variables persist in a state file."""

    given: dict[str, str]  # the variables the reader sets (GATEWAY, WEBHOOK_URL, ...)
    state: Path
    hook: Webhook
    infra: Infra
    settings: PartnersSettings

    async def run(self, script: str) -> tuple[int, str, str, dict[str, str]]:
        wrapped = (
            "set -a\n"
            '[ -f "$__STATE" ] && . "$__STATE" 2>/dev/null\n'
            'for __v in ${!__GIVEN_@}; do export "${__v#__GIVEN_}=${!__v}"; done\n'
            f"{script}"
            "__rc=$?\n"
            'unset "${!__GIVEN_@}"\n'
            'declare -px > "$__STATE"\n'
            'env -0 > "$__STATE.env"\n'
            "exit $__rc\n"
        )
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            wrapped,
            cwd=REPO_ROOT,
            env={
                **os.environ,
                **{f"__GIVEN_{k}": v for k, v in self.given.items()},
                "__STATE": str(self.state),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        raw = (await asyncio.to_thread(Path(f"{self.state}.env").read_bytes)).split(b"\0")
        variables = dict(v.decode().partition("=")[::2] for v in raw if b"=" in v)
        return process.returncode or 0, out.decode(), err.decode(), variables


Check = Callable[[str, dict[str, str]], None]
Before = Callable[[Session], Awaitable[None]]


@dataclass
class Example:
    contains: str
    check: Check
    repeat: bool = False  # a read: run again until the check passes
    before: Before | None = None


def answer(out: str) -> Any:
    return json.loads(out)


def _token(name: str) -> Check:
    def check(out: str, env: dict[str, str]) -> None:
        assert env.get(name, "").startswith("ey"), f"{name} is not a token"

    return check


def _api_key(out: str, env: dict[str, str]) -> None:
    assert re.fullmatch(r"dhk_[0-9a-f]{16}\.[\w-]{40,}", env.get("KEY", "")), "KEY is not a key"


def _partner_registered(out: str, env: dict[str, str]) -> None:
    body = answer(out)
    assert body["partner_id"] == "tally-yard" and body["status"] == "active", out
    assert body["topic"] == "partner.tally-yard.events" and body["quotas"]["daily"] == 200000


def _secret(out: str, env: dict[str, str]) -> None:
    assert env.get("SECRET", "").startswith("whsec_"), "no webhook secret"


def _registration_accepted(out: str, env: dict[str, str]) -> None:
    body = answer(out)
    assert body["status"] == "accepted", out
    assert body["source"] == "partner/port-booking" and body["type"] == "driver.registered.v1"
    assert body["receipt"] == f"/v1/events/{body['id']}"


def _registration_applied(out: str, env: dict[str, str]) -> None:
    body = answer(out)
    assert body["status"] == "applied", out
    assert [a["by"] for a in body["applied"]] == ["registry"], out


def _driver_id(out: str, env: dict[str, str]) -> None:
    assert out.strip().startswith("drv_") and env["DRIVER_ID"] == out.strip(), out


def _kept_accepted(out: str, env: dict[str, str]) -> None:
    body = answer(out)
    assert body["status"] == "accepted" and body["type"] == "port.appointment.kept.v1", out


def _kept_applied(out: str, env: dict[str, str]) -> None:
    body = answer(out)
    assert body["status"] == "applied", out
    (award,) = body["applied"]
    assert award["by"] == "points" and award["driver_id"] == env["DRIVER_ID"], out
    assert award["entry_id"] and award["amount"] > 0, out


def _batch(out: str, env: dict[str, str]) -> None:
    body = answer(out)
    assert (body["accepted"], body["refused"]) == (1, 1), out
    assert [r["status"] for r in body["results"]] == [202, 422], out
    refused = body["results"][1]
    assert refused["reason"] == "invalid_data" and "appointment_id" in refused["detail"], out


def _grade(out: str, env: dict[str, str]) -> None:
    body = answer(out)
    assert body["driver_id"] == env["DRIVER_ID"] and body["grade"] in {"A", "AA", "AAA"}, out
    assert body["earned_last_12_months"] >= 0 and isinstance(body["reasons"], list), out


def _rejections(out: str, env: dict[str, str]) -> None:
    items = answer(out)["items"]
    assert len(items) == 1 and items[0]["event_id"] is None, out
    assert items[0]["topic"] == "partner.port-booking.events", out
    assert {r["reason"] for r in items[0]["refusals"]} == {"malformed_envelope"}, out


def _verified(out: str, env: dict[str, str]) -> None:
    assert out.strip() == "verified", out


async def _publish_unreadable(session: Session) -> None:
    """As a partner publishing straight to Kafka might: a record that is not JSON."""
    await produce(
        session.infra.kafka_bootstrap,
        session.settings.partner_topic("port-booking"),
        b"{not json",
        key=b"PB-000123",
    )


def _notices(hook: Webhook, kind: str) -> list[tuple[dict[str, str], bytes]]:
    return [(h, body) for h, body in hook.deliveries if json.loads(body)["kind"] == kind]


async def _notice(session: Session) -> None:
    """The gateway's real notice of that rejection, as the guide's receiver would see it."""
    deadline = time.monotonic() + POLL_SECONDS
    while not _notices(session.hook, "rejection"):
        assert time.monotonic() < deadline, "no rejection notice at the webhook"
        await asyncio.sleep(0.2)
    ((headers, body),) = _notices(session.hook, "rejection")
    session.given |= {
        "BODY": body.decode(),
        "TS": headers["x-driverhome-timestamp"],
        "SIG": headers["x-driverhome-signature"],
    }


EXAMPLES = [
    Example("make -s token ROLE=partner", _token("TOKEN")),
    Example('"partner_id": "tally-yard"', _partner_registered),
    Example("/webhook", _secret),
    Example("/keys", _api_key),
    Example('"type": "driver.registered.v1"', _registration_accepted),
    Example("/v1/events/6f1c9a52", _registration_applied, repeat=True),
    Example("DRIVER_ID=$(", _driver_id, repeat=True),
    Example("port.appointment.kept.v1", _kept_accepted),
    Example("jq '{status, applied}'", _kept_applied, repeat=True),
    Example("cloudevents-batch+json", _batch),
    Example("/grade", _grade),
    Example("/v1/rejections", _rejections, repeat=True, before=_publish_unreadable),
    Example("openssl dgst", _verified, before=_notice),
]


def _same_fields(actual: Any, documented: Any, where: str) -> None:
    """Every field the documented answer shows is in the real answer (values are examples)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), where
        missing = set(documented) - set(actual)
        assert not missing, f"{where}: the guide shows {sorted(missing)}, the answer has not"
        for key, value in documented.items():
            _same_fields(actual[key], value, f"{where}.{key}")
    elif isinstance(documented, list) and documented and actual:
        assert isinstance(actual, list), where
        for item in actual:
            _same_fields(item, documented[0], f"{where}[]")


async def run_example(session: Session, block: Block, example: Example, number: int) -> None:
    where = f"docs/partners.md line {block.line} (example {number})"
    assert example.contains in block.text, f"{where} is not the example for {example.contains!r}"
    if example.before:
        await example.before(session)
    deadline = time.monotonic() + (POLL_SECONDS if example.repeat else 0)
    while True:
        code, out, err, variables = await session.run(block.text)
        try:
            assert code == 0, f"exit {code}: {err.strip()[-500:]}"
            example.check(out, variables)
            if block.answer is not None:
                _same_fields(answer(out), block.answer, "answer")
            return
        except (AssertionError, ValueError, KeyError) as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{where}: {exc}\n--- output ---\n{out[-1500:]}") from exc
        await asyncio.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def gateway(settings: PartnersSettings) -> AsyncIterator[str]:
    """The partners app on a real socket (curl needs one), lifespan included."""
    port = _free_port()
    config = uvicorn.Config(
        partners_app(settings), host="127.0.0.1", port=port, lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert not task.done(), "the gateway did not start"
            assert time.monotonic() < deadline, "the gateway did not start within 60 s"
            await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


def test_every_example_of_the_guide_has_its_check() -> None:
    examples = blocks(GUIDE.read_text())
    assert len(examples) == len(EXAMPLES), (
        f"docs/partners.md has {len(examples)} sh blocks, EXAMPLES checks {len(EXAMPLES)}"
    )
    for block, example in zip(examples, EXAMPLES, strict=True):
        assert example.contains in block.text, f"line {block.line}: expected {example.contains!r}"


@pytest.mark.expects_dlq("malformed_envelope")
async def test_the_guide_runs_as_written(make_settings: Callable[..., Any], infra: Infra) -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"the guide's examples need {', '.join(missing)} (scripts/bootstrap.sh)"
    examples = blocks(GUIDE.read_text())
    assert len(examples) == len(EXAMPLES)
    settings = make_settings(
        PartnersSettings, webhook_sweep_seconds=0.2, webhook_allowed_networks=["127.0.0.1/32"]
    )
    async with AsyncExitStack() as stack:
        for app in (
            registry_app(make_settings(RegistrySettings)),
            points_app(make_settings(PointsSettings)),
        ):
            await stack.enter_async_context(serve(app))
        url = await stack.enter_async_context(gateway(settings))
        hook = await stack.enter_async_context(webhook_receiver())
        state = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "state"
        given = {"GATEWAY": url, "WEBHOOK_URL": hook.url}
        session = Session(given, state, hook, infra, settings)
        for number, (block, example) in enumerate(zip(examples, EXAMPLES, strict=True), 1):
            await run_example(session, block, example, number)
        # The signature check refuses a notice whose body was changed.
        session.given["BODY"] = session.given["BODY"].replace("rejection", "rejectiom", 1)
        _code, out, _err, _vars = await session.run(examples[-1].text)
        assert out.strip() == "refused", out
        assert len(_notices(hook, "rejection")) == 1
        assert [json.loads(b)["ref"] for _h, b in _notices(hook, "driver.linked")] == ["PB-000123"]
