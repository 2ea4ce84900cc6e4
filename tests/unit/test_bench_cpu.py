"""The bench's CPU meter: a process's own CPU time, not the wall-clock time it took."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.cpu import (
    CpuMeter,
    StoreMeter,
    add_cpu_row,
    add_store_cpu_row,
    listener_pid,
    store_meter,
)
from bench.report import Report

SPIN = (
    "import sys, time\n"
    "sys.stdin.readline()\n"
    "end = time.process_time() + 0.5\n"
    "while time.process_time() < end: pass\n"
    "print('spun', flush=True)\n"
    "time.sleep(30)\n"
)


def test_a_child_that_spins_is_charged_its_cpu_and_one_that_sleeps_nearly_none() -> None:
    spinner = subprocess.Popen(
        [sys.executable, "-c", SPIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time\ntime.sleep(30)\n"])
    try:
        time.sleep(0.3)  # both past their start-up
        assert spinner.stdin is not None
        assert spinner.stdout is not None
        with CpuMeter(spinner.pid) as spun, CpuMeter(sleeper.pid) as slept:
            spinner.stdin.write(b"go\n")
            spinner.stdin.flush()
            assert spinner.stdout.readline() == b"spun\n"
    finally:
        for child in (spinner, sleeper):
            child.kill()
            child.wait(timeout=30)
    assert spun.seconds >= 0.4, spun.seconds
    assert slept.seconds <= 0.05, slept.seconds


def test_this_process_is_measured_without_a_pid() -> None:
    with CpuMeter() as busy:
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
    with CpuMeter() as idle:
        time.sleep(0.2)
    assert busy.seconds >= 0.2
    assert idle.seconds < 0.05


def test_the_row_says_per_operation_and_how_many_times_the_bare_scripts() -> None:
    service, bare = CpuMeter(), CpuMeter()
    service.seconds, bare.seconds = 3.0, 0.5
    report = Report()
    add_cpu_row(report, "flow: CPU per thing", service=(service, 1000), bare=(bare, 1000))
    bare.seconds = 0.0
    add_cpu_row(report, "flow: CPU per thing", service=(service, 100_000), bare=(bare, 1000))
    assert report.rows == [
        ("flow: CPU per thing", "3.00 ms", "6.0x the bare script's own (0.50 ms)"),
        ("flow: CPU per thing", "30.0 µs", "the bare script's own too small to measure"),
    ]


LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.bind(('127.0.0.1', 0))\n"
    "s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(30)\n"
)


def test_the_store_is_found_by_the_port_it_listens_on_and_only_while_it_listens() -> None:
    child = subprocess.Popen([sys.executable, "-c", LISTEN], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        assert listener_pid(port) == child.pid
        assert store_meter(f"mongodb://127.0.0.1:{port}/?w=majority").known
    finally:
        child.kill()
        child.wait(timeout=30)
    assert listener_pid(port) is None
    assert not store_meter(f"mongodb://127.0.0.1:{port}").known


def test_a_store_row_needs_both_sides_measured() -> None:
    seen, unseen = StoreMeter(1), StoreMeter(None)
    seen.seconds = 2.0
    report = Report()
    add_store_cpu_row(report, "flow: store CPU", service=(seen, 1000), bare=(unseen, 1000))
    other = StoreMeter(1)
    other.seconds = 0.5
    add_store_cpu_row(report, "flow: store CPU", service=(seen, 1000), bare=(other, 1000))
    assert report.rows == [
        ("flow: store CPU", "n/a", "the store's process is not visible here"),
        ("flow: store CPU", "2.00 ms", "4.0x the raw baseline's (0.50 ms)"),
    ]
