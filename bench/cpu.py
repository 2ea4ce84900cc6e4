"""CPU time per operation: what a flow costs the process doing it, whatever share of the
machine it got meanwhile.

Rates on this machine swing with whatever else runs: the store's JVM, the broker and the
bench's own client share two cores, and the same raw baseline gave rates three times apart on
one night. The CPU time a process spends per operation does not count the time it waited for a
core, so the sections report it beside their rates: the service process's (user plus system
time from ``/proc/<pid>/stat``) against the bare script's own (``time.process_time`` of the
bench process while it does the raw work). Neither counts the store's time; :class:`StoreMeter`
does, for the store's process, so a flow's store work per operation can be set against its raw
baseline's: what the service asks of the store beyond the baseline's writes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol
from urllib.parse import urlsplit

# How long the store's background writer (H2 commits its pages about once a second) may still
# be writing what a timed run stored: a store meter reads its end this long after the run.
STORE_SETTLE_SECONDS = 1.5


class Rows(Protocol):
    def add(self, name: str, value: str, note: str = "") -> None: ...


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds the process ``pid`` has used so far."""
    # Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used inside a ``with`` block: by the process ``pid``, or by this one."""

    def __init__(self, pid: int | None = None) -> None:
        self._pid = pid
        self._started = 0.0
        self.seconds = 0.0
        # Read the end this much later (a process still finishing the block's work).
        self.settle_seconds = 0.0

    def _now(self) -> float:
        return time.process_time() if self._pid is None else process_cpu(self._pid)

    def __enter__(self) -> CpuMeter:
        self._started = self._now()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.settle_seconds and kind is None:
            time.sleep(self.settle_seconds)
        self.seconds = self._now() - self._started


class StoreMeter(CpuMeter):
    """The store process's CPU inside a ``with`` block, its background writes included; reads
    nothing when the store's process is not known (``known`` is then False)."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.known = pid is not None
        self.settle_seconds = STORE_SETTLE_SECONDS if self.known else 0.0

    def _now(self) -> float:
        return process_cpu(self._pid) if self._pid is not None else 0.0


def listener_pid(port: int) -> int | None:
    """The process listening on the loopback TCP ``port`` (this machine's /proc), if visible."""
    sockets: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # Local address is hex ip:port; state 0A is LISTEN; field 9 the socket's inode.
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets.add(f"socket:[{fields[9]}]")
    if not sockets:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in sockets for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return None


def store_meter(mongo_url: str) -> StoreMeter:
    """A meter of the store serving ``mongo_url`` (the bench's own, on the loopback)."""
    return StoreMeter(listener_pid(urlsplit(mongo_url).port or 27017))


def _per(seconds: float, count: int) -> str:
    each = seconds / max(1, count)
    return f"{each * 1000:,.2f} ms" if each >= 0.0001 else f"{each * 1e6:,.1f} µs"


def add_cpu_row(
    report: Rows,
    name: str,
    *,
    service: tuple[CpuMeter, int],
    bare: tuple[CpuMeter, int],
    against: str = "the bare script's own",
) -> None:
    """A row: the service's CPU per operation, and how many times the bare script's it is."""
    (meter, count), (bare_meter, bare_count) = service, bare
    mine = meter.seconds / max(1, count)
    theirs = bare_meter.seconds / max(1, bare_count)
    if theirs <= 0:
        report.add(name, _per(meter.seconds, count), f"{against} too small to measure")
        return
    report.add(
        name,
        _per(meter.seconds, count),
        f"{mine / theirs:,.1f}x {against} ({_per(bare_meter.seconds, bare_count)})",
    )


def add_store_cpu_row(
    report: Rows,
    name: str,
    *,
    service: tuple[StoreMeter, int],
    bare: tuple[StoreMeter, int],
) -> None:
    """A row: the store's CPU per operation of a flow, against per operation of its baseline."""
    if not (service[0].known and bare[0].known):
        report.add(name, "n/a", "the store's process is not visible here")
        return
    add_cpu_row(report, name, service=service, bare=bare, against="the raw baseline's")
