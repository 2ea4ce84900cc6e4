"""Test-only failure injection at named points ("failpoints").

Settings map a point name to an action: ``raise``, ``exit``, or their ``_once:<marker path>``
forms, which fire only while the marker file does not exist (so a restarted process goes on).
Production settings refuse any fault (see ServiceSettings).
"""

from __future__ import annotations

import os
from pathlib import Path


class InjectedFault(RuntimeError):
    """Raised at a failpoint configured with ``raise``."""


class Faults:
    def __init__(self, config: dict[str, str] | None = None) -> None:
        self._config = dict(config or {})

    def hit(self, point: str) -> None:
        action = self._config.get(point)
        if not action:
            return
        kind, _, marker = action.partition(":")
        if kind.endswith("_once"):
            marker_path = Path(marker)
            if marker_path.exists():
                return
            marker_path.write_text(point)
            kind = kind.removesuffix("_once")
        if kind == "exit":
            os._exit(97)
        if kind == "raise":
            raise InjectedFault(point)
        raise ValueError(f"unknown fault action {action!r} at {point}")
