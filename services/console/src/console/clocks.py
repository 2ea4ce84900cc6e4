"""A case's clocks as the queue shows them: the nearest running deadline and its state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

OPEN_STATUSES = frozenset(
    {"received", "assigned", "in_progress", "awaiting_driver", "suspended", "objected", "review"}
)
# The cases service warns at three quarters of a clock's time (cases.domain.WARNING_FRACTION);
# the console measures wall time between start and due, close enough for a queue's colour.
WARNING_FRACTION = 0.75
FAR_FUTURE = "9999-12-31T00:00:00+00:00"


def _running(case: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    clocks: dict[str, dict[str, Any]] = case.get("clocks") or {}
    return [(name, c) for name, c in clocks.items() if not c.get("met_at")]


def nearest_due(case: dict[str, Any]) -> str:
    """The ISO time of the earliest deadline still running (far future when none runs)."""
    dues = [c["due"] for _, c in _running(case)]
    return min(dues, key=datetime.fromisoformat) if dues else FAR_FUTURE


def clock_state(case: dict[str, Any], now: datetime) -> str:
    """on_time, warned or breached, by the worst running clock."""
    worst = "on_time"
    for _, clock in _running(case):
        if clock.get("breached"):
            return "breached"
        started = datetime.fromisoformat(clock["started_at"])
        due = datetime.fromisoformat(clock["due"])
        if due <= now:
            return "breached"
        if (now - started) >= (due - started) * WARNING_FRACTION:
            worst = "warned"
    return worst
