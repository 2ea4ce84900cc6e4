"""Services a harness starts stop when the harness dies without its teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)

HARNESS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from common.testing.processes import ServiceProcess

    service = ServiceProcess("idle_service", {"PYTHONPATH": sys.argv[1]}, Path(sys.argv[2]))
    service.start()
    print(service.process.pid, flush=True)
    time.sleep(600)  # killed by the test long before
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # reaped between the two looks
        return False
    # A zombie is gone for every purpose but its table entry.
    return "State:\tZ" not in status


def test_a_service_stops_when_its_harness_is_killed(tmp_path: Path) -> None:
    (tmp_path / "idle_service.py").write_text("import time\ntime.sleep(600)\n")
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(tmp_path), str(tmp_path / "service.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    service_pid = 0
    try:
        assert harness.stdout is not None
        service_pid = int(harness.stdout.readline())
        assert _alive(service_pid)
        harness.send_signal(signal.SIGKILL)  # no teardown, no finally
        harness.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(service_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(service_pid), "the service outlived the harness that started it"
    finally:
        harness.kill()
        if service_pid and _alive(service_pid):
            os.kill(service_pid, signal.SIGKILL)
