"""Polling until a condition holds, for tests of asynchronous effects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with a clear message."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = await probe()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last_error!r})")
