"""Memory and start-up: each service as its own process, idle and under the bench's load.

Start-up: every service started at once as ``make run`` does (``scripts/run-services.sh``:
``python -m <service>`` with the venv's interpreter, its own port, the same infrastructure),
timed from the process's start until its ``/readyz`` answers 200 (Kafka and the store
reachable, topics and indexes made). Idle memory: the resident set (``VmRSS`` in
``/proc/<pid>/status``) of each, 5 s after the last became ready. Under load: while the other
sections run, :class:`PeakMemory` samples the resident set of every service process the bench
started (its children, named by ``-m <service>``) twice a second and keeps each service's peak.

Everything on the loopback; every wait has a timeout; every process stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.report import Report
from common.testing import ServiceProcess

SERVICES = ("registry", "points", "stations", "notify", "cases", "partners")
READY_TIMEOUT = 180.0
SETTLE_SECONDS = 5.0


def rss_mib(pid: int) -> float | None:
    """The process's resident set in MiB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def service_children(parent: int) -> dict[int, str]:
    """The bench's child processes that run a service (``python -m <service>``)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid != parent or b"-m" not in argv:
            continue
        module = argv[argv.index(b"-m") + 1].decode(errors="replace")
        if module in SERVICES:
            found[int(entry.name)] = module
    return found


class PeakMemory:
    """Each service's peak resident set while the bench runs, sampled in a thread."""

    def __init__(self, parent: int, interval: float = 0.5) -> None:
        self._parent = parent
        self._interval = interval
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[PeakMemory]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            for pid, name in service_children(self._parent).items():
                if (mib := rss_mib(pid)) is not None:
                    self.peaks[name] = max(self.peaks.get(name, 0.0), mib)


async def _ready_after(process: ServiceProcess, started: float) -> float:
    deadline = started + READY_TIMEOUT
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            if process.process is not None and process.process.poll() is not None:
                raise RuntimeError(f"{process.name} exited: {process.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{process.url}/readyz")).is_success:
                    return time.monotonic() - started
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{process.name} not ready in {READY_TIMEOUT:.0f} s: {process.log_tail()}")


async def start_up(kafka: str, mongo: str) -> dict[str, tuple[float, float]]:
    """Per service: seconds from process start to ready, and idle resident MiB."""
    prefix = f"bf{uuid.uuid4().hex[:6]}"
    logs = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    processes = [
        ServiceProcess(
            name,
            {
                "DRIVERHOME_ENVIRONMENT": "test",
                "DRIVERHOME_KAFKA_BOOTSTRAP": kafka,
                "DRIVERHOME_MONGO_URL": mongo,
                "DRIVERHOME_MONGO_DB": f"{prefix}_{name}",
                "DRIVERHOME_TOPIC_PREFIX": f"{prefix}.",
                "DRIVERHOME_LOG_LEVEL": "WARNING",
            },
            logs / f"{name}.log",
        )
        for name in SERVICES
    ]
    try:
        started: dict[str, float] = {}
        for process in processes:
            started[process.name] = time.monotonic()
            process.start()
        ready = await asyncio.gather(*(_ready_after(p, started[p.name]) for p in processes))
        await asyncio.sleep(SETTLE_SECONDS)
        out = {}
        for process, seconds in zip(processes, ready, strict=True):
            assert process.process is not None
            out[process.name] = (seconds, rss_mib(process.process.pid) or 0.0)
        return out
    finally:
        for process in processes:
            process.stop()


async def run(kafka: str, mongo: str, report: Report) -> None:
    for name, (seconds, mib) in (await start_up(kafka, mongo)).items():
        report.add(f"{name}: start to ready (all six started at once)", f"{seconds:,.1f} s")
        report.add(f"{name}: resident memory, idle", f"{mib:,.0f} MiB")


def report_peaks(report: Report, peaks: dict[str, float]) -> None:
    for name in SERVICES:
        if name in peaks:
            report.add(
                f"{name}: resident memory, peak under the bench load",
                f"{peaks[name]:,.0f} MiB",
                "sampled every 0.5 s over every section that ran it",
            )
