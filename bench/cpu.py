"""CPU time per operation: what a flow costs the process doing it, whatever share of the
machine it got meanwhile.

Rates on this machine swing with whatever else runs: the store's JVM, the broker and the
bench's own client share two cores, and the same raw baseline gave rates three times apart on
one night. The CPU time a process spends per operation does not count the time it waited for a
core, so the sections report it beside their rates: the service process's (user plus system
time from ``/proc/<pid>/stat``) against the bare script's own (``time.process_time`` of the
bench process while it does the raw work). Neither counts the store's time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol


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
        self.seconds = self._now() - self._started


def _per(seconds: float, count: int) -> str:
    each = seconds / max(1, count)
    return f"{each * 1000:,.2f} ms" if each >= 0.0001 else f"{each * 1e6:,.1f} µs"


def add_cpu_row(
    report: Rows,
    name: str,
    *,
    service: tuple[CpuMeter, int],
    bare: tuple[CpuMeter, int],
) -> None:
    """A row: the service's CPU per operation, and how many times the bare script's it is."""
    (meter, count), (bare_meter, bare_count) = service, bare
    mine = meter.seconds / max(1, count)
    theirs = bare_meter.seconds / max(1, bare_count)
    if theirs <= 0:
        report.add(name, _per(meter.seconds, count), "the bare script's own too small to measure")
        return
    report.add(
        name,
        _per(meter.seconds, count),
        f"{mine / theirs:,.1f}x the bare script's own ({_per(bare_meter.seconds, bare_count)})",
    )
