"""The bench report: rows of measurement, result and ratio, printed as they come."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, note: str = "") -> None:
        self.rows.append((name, value, note))
        print(f"  {name:<58} {value:>14}  {note}", flush=True)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bracketed(before: float, after: float) -> tuple[float, str]:
    """A raw baseline measured just before and just after the system it is compared with: the
    mean of the two, and a note giving both (how far the machine drifted in between)."""
    return (before + after) / 2, f"mean of {before:,.0f} before and {after:,.0f} after"
