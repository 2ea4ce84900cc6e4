"""A served process settles its start-up heap: once its lifespan has started, what start-up
built is frozen out of the collector's full walks (no 70-100 ms pauses on requests later)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from common.webapp import _heap_settled_after


async def test_start_up_objects_are_frozen_once_the_lifespan_has_started() -> None:
    seen: list[int] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        seen.append(gc.get_freeze_count())
        yield {"state": "kept"}

    gc.unfreeze()
    try:
        async with _heap_settled_after(lifespan)(object()) as state:
            assert state == {"state": "kept"}, "the inner lifespan's state is passed on"
            assert seen == [0], "start-up ran before anything was frozen"
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
