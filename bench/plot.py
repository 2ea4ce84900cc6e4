"""The bench's plot: throughput and p99 latency per flow, from the report's rows.

Rows are read as the report prints them: a throughput is a result ending in ``/s`` (msg/s,
req/s, ev/s, …), a latency a ``p99`` row in ms. Raw baselines are drawn grey, the services blue,
so each flow can be read against the store or broker work it is a ratio of.
"""

from __future__ import annotations

import re
from pathlib import Path

# The Figure API draws straight to a file: no pyplot state, no display on a build machine.
from matplotlib.axes import Axes
from matplotlib.figure import Figure

_NUMBER = re.compile(r"^([\d,]+(?:\.\d+)?)\s*(.*)$")
_LABEL = 58


def _value(text: str) -> tuple[float, str] | None:
    found = _NUMBER.match(text.strip())
    if found is None:
        return None
    return float(found.group(1).replace(",", "")), found.group(2)


def flows(
    rows: list[tuple[str, str, str]],
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(name, per second) and (name, p99 ms) rows."""
    throughput, p99 = [], []
    for name, result, _ in rows:
        parsed = _value(result)
        if parsed is None:
            continue
        number, unit = parsed
        if unit.endswith("/s") or unit == "/s":
            throughput.append((name, number))
        elif "p99" in name and unit == "ms":
            p99.append((name, number))
    return throughput, p99


def _short(name: str) -> str:
    return name if len(name) <= _LABEL else name[: _LABEL - 1] + "…"


def _bars(axis: Axes, rows: list[tuple[str, float]], title: str, unit: str) -> None:
    names = [_short(n) for n, _ in rows]
    colours = ["#9a9a9a" if n.startswith("raw") else "#2f6db5" for n, _ in rows]
    axis.barh(range(len(rows)), [v for _, v in rows], color=colours)
    axis.set_yticks(range(len(rows)), names, fontsize=7)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel(unit)
    axis.set_title(title, fontsize=10)
    for i, (_, value) in enumerate(rows):
        axis.text(
            value, i, f" {value:,.0f}" if value >= 10 else f" {value:.1f}", va="center", fontsize=6
        )


def write_plot(path: Path, rows: list[tuple[str, str, str]], caption: str) -> bool:
    """Draw the plot into ``path`` (PNG); False when there is nothing to draw."""
    throughput, p99 = flows(rows)
    if not throughput and not p99:
        return False
    heights = (max(1, len(throughput)), max(1, len(p99)))
    figure = Figure(figsize=(11, 1.5 + 0.22 * sum(heights)))
    axes = figure.subplots(2, 1, height_ratios=heights)
    _bars(axes[0], throughput, "Throughput per flow (grey: raw baselines)", "per second, log")
    _bars(axes[1], p99, "p99 latency per flow (grey: raw baselines)", "ms, log")
    figure.suptitle(caption, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True
