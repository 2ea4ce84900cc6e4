"""The bench's CPU meter: a process's own CPU time, not the wall-clock time it took."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.cpu import CpuMeter, add_cpu_row
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
