"""Steps a batched subscription's records leave to the end of their batch.

A handler that would finish each record with a store write of its own (the points ledger's
"mark the entry applied" and "settle the account") can instead add that step to the batch it
runs in, and the batch sends the steps of all its records in one bulk write each, before its
offset commit. Each step must be one a crash may skip: its record, redelivered because the
batch was never committed, or a sweeper, finishes it again (handbook section 3). Outside a
batch (HTTP requests, sweepers, unbatched subscriptions) there is no batch to add to and the
caller does the step at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, TypeVar


class Deferred(Protocol):
    """The steps of one kind a batch collected, sent at its end (or earlier, see
    :meth:`BatchEnd.send`): ``flush`` sends those collected before it was called and keeps
    any it could not send, and steps collected meanwhile, for the next call."""

    async def flush(self) -> None: ...


D = TypeVar("D", bound=Deferred)


class BatchEnd:
    """The deferred steps of one batch, by the owner that collects them, in first-use order."""

    def __init__(self) -> None:
        self._parts: dict[object, Deferred] = {}
        self.ended = False

    def part(self, owner: object, make: Callable[[], D]) -> D:
        """``owner``'s collector of this batch, made on first use."""
        found = self._parts.get(owner)
        if found is None:
            found = self._parts[owner] = make()
        return found  # type: ignore[return-value]

    async def send(self) -> None:
        """Send the steps collected so far; the batch goes on collecting. A part keeps what a
        failure left unsent for the next call."""
        for part in list(self._parts.values()):
            await part.flush()

    async def flush(self) -> None:
        """End the batch and send every collected step; may be called again after a failure."""
        # A task a record started keeps this batch in its context: from now on it does its
        # steps at once, as nothing would send them.
        self.ended = True
        await self.send()


_current: ContextVar[BatchEnd | None] = ContextVar("driverhome_batch_end", default=None)


def current() -> BatchEnd | None:
    """The batch the running record belongs to, if it runs in one that has not ended."""
    end = _current.get()
    return None if end is None or end.ended else end


@contextmanager
def collecting() -> Iterator[BatchEnd]:
    """Run a batch's records with a fresh :class:`BatchEnd` (lanes started inside share it)."""
    end = BatchEnd()
    token = _current.set(end)
    try:
        yield end
    finally:
        _current.reset(token)
