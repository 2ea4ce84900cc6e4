"""A circuit breaker per endpoint: after repeated failures stop calling it for a while.

State lives in the process: each instance learns about an endpoint on its own, which is enough
to stop hammering a partner that is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from common.clock import Clock


@dataclass
class _Circuit:
    failures: int = 0
    open_until: datetime | None = None


class CircuitBreakers:
    def __init__(self, clock: Clock, *, threshold: int, reset_seconds: float) -> None:
        self._clock = clock
        self._threshold = threshold
        self._reset = timedelta(seconds=reset_seconds)
        self._circuits: dict[str, _Circuit] = {}

    def open_until(self, endpoint: str) -> datetime | None:
        """None when a call may go (closed, or half-open after the pause)."""
        circuit = self._circuits.get(endpoint)
        if circuit is None or circuit.open_until is None:
            return None
        if self._clock() >= circuit.open_until:
            return None  # half-open: let one call probe the endpoint
        return circuit.open_until

    def succeeded(self, endpoint: str) -> None:
        self._circuits.pop(endpoint, None)

    def failed(self, endpoint: str) -> None:
        circuit = self._circuits.setdefault(endpoint, _Circuit())
        circuit.failures += 1
        if circuit.failures >= self._threshold:
            circuit.open_until = self._clock() + self._reset
