"""The DLQ watchdog: a dead letter a test did not declare fails that test, with its reasons."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from common.dlq import DeadLetter
from common.settings import ServiceSettings
from common.testing import REPO_ROOT, Infra, dead_letters, unexpected_dead_letters
from common.topics import ensure_topics
from tests.support import produce


async def dead_letter(infra: Infra, settings: ServiceSettings, topic: str, reason: str) -> None:
    letter = DeadLetter(reason, "WriteError(code=40): conflict", "g", topic, 0, 7)
    await produce(
        infra.kafka_bootstrap,
        settings.topic(f"{topic}.dlq"),
        b'{"secret payload": 1}',
        key=b"drv_1",
        headers=[(k, v.encode()) for k, v in letter.headers().items()],
    )


@pytest.mark.expects_dlq("schema_invalid", "handler_failed")
async def test_the_watchdog_reads_every_dlq_of_the_run_and_reports_undeclared_reasons(
    infra: Infra, make_settings: Callable[..., ServiceSettings], run_id: str
) -> None:
    settings = make_settings(ServiceSettings, partners={"volunteer-team": []})
    assert await dead_letters(infra.kafka_bootstrap, f"{run_id}.") == []
    await ensure_topics(settings, ["registry.events", "partner.volunteer-team.events"])
    assert await dead_letters(infra.kafka_bootstrap, f"{run_id}.") == []

    await dead_letter(infra, settings, "registry.events", "handler_failed")
    await dead_letter(infra, settings, "partner.volunteer-team.events", "schema_invalid")
    records = await dead_letters(infra.kafka_bootstrap, f"{run_id}.")
    assert sorted(r.topic for r in records) == [
        settings.topic("partner.volunteer-team.events.dlq"),
        settings.topic("registry.events.dlq"),
    ]

    report = unexpected_dead_letters(records, None)
    assert report is not None and report.startswith("2 unexpected dead letter(s)")
    assert "'dlq-reason': 'handler_failed'" in report and "code=40" in report
    assert "secret payload" not in report, "payloads may hold personal data"
    assert unexpected_dead_letters(records, ()) is None
    assert unexpected_dead_letters(records, ("schema_invalid", "handler_failed")) is None
    only = unexpected_dead_letters(records, ("schema_invalid",))
    assert only is not None and only.startswith("1 unexpected") and "handler_failed" in only


INNER_TESTS = """
import pytest

from common.topics import ensure_topics
from common.settings import ServiceSettings
from tests.support import produce


async def _dead_letter(make_settings):
    settings = make_settings(ServiceSettings)
    await ensure_topics(settings, ["points.events"])
    await produce(
        settings.kafka_bootstrap,
        settings.topic("points.events.dlq"),
        b"{}",
        headers=[("dlq-reason", b"unknown_type"), ("dlq-error", b"no such type")],
    )


async def test_undeclared(make_settings):
    await _dead_letter(make_settings)


@pytest.mark.expects_dlq
async def test_declared(make_settings):
    await _dead_letter(make_settings)


async def test_none(run_id):
    pass
"""


def test_a_test_that_dead_letters_without_declaring_it_fails(infra: Infra, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    env = {
        **os.environ,
        **infra.test_env(),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    inner = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-c", str(REPO_ROOT / "pyproject.toml"), "--rootdir", str(tmp_path)),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = inner.stdout
    assert inner.returncode == 1, out + inner.stderr
    assert "3 passed, 1 error" in out, out  # the error is test_undeclared's teardown
    assert "ERROR" in out and "test_inner.py::test_undeclared" in out, out
    assert "1 unexpected dead letter(s)" in out and "'dlq-reason': 'unknown_type'" in out, out
