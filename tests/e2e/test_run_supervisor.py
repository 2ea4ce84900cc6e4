"""make run's supervisor (scripts/run-services.sh) with two tiny fake services.

The fakes are plain HTTP servers answering ``/readyz``, so the test needs no broker or store and
uses its own ports; each start records its pid, so the test can tell which processes the
supervisor started and check that none outlives it.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def free_port_base(count: int) -> int:
    """A base such that base+1 … base+count are free now, below the kernel's ephemeral range:
    a port the kernel handed out was once taken by an outgoing connection between this check
    and the fake service's bind, and the service never started."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    below = int(ephemeral[0]) if ephemeral else 32768
    choose = random.Random()
    for _ in range(200):
        base = choose.randrange(10_000, below - count - 1)
        try:
            for i in range(1, count + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes: only its parent's reaping is missing.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(")")[-1].split()[0] != "Z"


class Supervisor:
    def __init__(self, tmp: Path, **overrides: str) -> None:
        self.tmp = tmp
        self.output: list[str] = []
        www = tmp / "www"
        www.mkdir()
        (www / "readyz").write_text("ok")
        fake = tmp / "fake-service.sh"
        fake.write_text(
            "#!/bin/sh\n"
            f'echo "$1 $$" >> {tmp}/starts\n'
            f"exec {sys.executable} -m http.server --bind 127.0.0.1 --directory {www} "
            '"$DRIVERHOME_HTTP_PORT"\n'
        )
        env = {
            **os.environ,
            "RUN_SERVICES": "alpha beta",
            "RUN_PORT_BASE": str(free_port_base(2)),
            "RUN_SERVICE_CMD": f"sh {fake}",
            "RUN_DEMO": "0",
            "RUN_LOGS": str(tmp / "logs"),
            "RUN_BACKOFF_START": "1",
            "RUN_BACKOFF_MAX": "4",
            **overrides,
        }
        # Its own process group, as a terminal gives `make run`: Ctrl-C signals the group.
        self.proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "run-services.sh")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            # A job started in the background (`cmd &`, as CI runners may) inherits SIGINT
            # ignored, and bash cannot trap a signal ignored on entry: give it the terminal's.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert self.proc.stdout is not None
        stream = self.proc.stdout
        self._reader = threading.Thread(target=lambda: self.output.extend(stream), daemon=True)
        self._reader.start()

    def starts(self) -> list[tuple[str, int]]:
        path = self.tmp / "starts"
        if not path.exists():
            return []
        return [(n, int(p)) for n, p in (line.split() for line in path.read_text().splitlines())]

    def pids_of(self, name: str) -> list[int]:
        return [pid for n, pid in self.starts() if n == name]

    def wait_for(self, check: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail("timed out; supervisor said:\n" + "".join(self.output))
            time.sleep(0.1)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.output)

    def kill_leftovers(self) -> None:
        """Only after a failed test: these processes are all this test started."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for _, pid in self.starts():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    def interrupt(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return code


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    running = Supervisor(tmp_path)
    try:
        yield running
    finally:
        running.kill_leftovers()


def test_a_killed_service_is_restarted_with_backoff_and_ctrl_c_stops_every_process(
    supervisor: Supervisor,
) -> None:
    supervisor.wait_for(lambda: supervisor.said("driverhome is running"))
    [first] = supervisor.pids_of("beta")
    [alpha] = supervisor.pids_of("alpha")

    os.kill(first, signal.SIGKILL)
    supervisor.wait_for(lambda: len(supervisor.pids_of("beta")) == 2)
    supervisor.wait_for(lambda: supervisor.said("beta restarted"))
    assert supervisor.said("beta exited (status 137)")
    assert supervisor.said("restarting in 1s")
    second = supervisor.pids_of("beta")[-1]
    assert alive(second)
    assert alive(alpha), "the other service kept running"

    # Dying again soon after a restart waits longer: the backoff doubles.
    os.kill(second, signal.SIGKILL)
    supervisor.wait_for(lambda: len(supervisor.pids_of("beta")) == 3)
    assert supervisor.said("restarting in 2s")
    assert supervisor.proc.poll() is None, "one service dying does not stop the stack"

    assert supervisor.interrupt() == 130
    assert supervisor.said("services stopped")
    started = [pid for _, pid in supervisor.starts()]
    assert len(started) == 4
    assert [pid for pid in started if alive(pid)] == []


def test_a_service_that_ran_stably_before_dying_is_restarted_after_the_shortest_delay(
    tmp_path: Path,
) -> None:
    supervisor = Supervisor(tmp_path, RUN_SERVICES="alpha", RUN_STABLE_SECONDS="2")
    try:
        supervisor.wait_for(lambda: supervisor.said("driverhome is running"))
        os.kill(supervisor.pids_of("alpha")[0], signal.SIGKILL)
        supervisor.wait_for(lambda: len(supervisor.pids_of("alpha")) == 2)
        time.sleep(2.5)  # longer than the stable period: the backoff starts over
        os.kill(supervisor.pids_of("alpha")[1], signal.SIGKILL)
        supervisor.wait_for(lambda: len(supervisor.pids_of("alpha")) == 3)
        delays = [line for line in supervisor.output if "alpha exited" in line]
        assert len(delays) == 2
        assert all("restarting in 1s" in line for line in delays), delays
        assert supervisor.interrupt() == 130
        assert [pid for _, pid in supervisor.starts() if alive(pid)] == []
    finally:
        supervisor.kill_leftovers()
