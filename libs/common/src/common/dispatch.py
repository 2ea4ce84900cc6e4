"""Handlers by event class: each handler declares the class it takes, and a consumer checks,
when it is wired, that the topic's catalogue parses the type into that class."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from common.events import CloudEvent, EventData

EventHandler = Callable[[CloudEvent, EventData], Awaitable[None]]
E = TypeVar("E", bound=EventData)


class Typed(Generic[E]):
    """A handler for one event class: it receives the parsed data as that class, so handlers
    declare what they take instead of narrowing; the consumer checks at wiring time that the
    topic's catalogue parses the type into that class."""

    def __init__(
        self,
        model: type[E],
        handle: Callable[[CloudEvent, E], Awaitable[None]] | None = None,
        *,
        data_only: Callable[[E], Awaitable[None]] | None = None,
    ) -> None:
        self.model = model
        self._handle = handle
        self._data_only = data_only

    async def __call__(self, event: CloudEvent, data: EventData) -> None:
        if not isinstance(data, self.model):
            raise TypeError(f"{event.type} parsed as {type(data).__name__}, not {self.model}")
        if self._handle is not None:
            await self._handle(event, data)
        elif self._data_only is not None:
            await self._data_only(data)


def typed(model: type[E], handle: Callable[[CloudEvent, E], Awaitable[None]]) -> Typed[E]:
    """Dispatch by class to a handler that also reads the envelope (its id, its source)."""
    return Typed(model, handle)


def on(model: type[E], handle: Callable[[E], Awaitable[None]]) -> Typed[E]:
    """Dispatch by class to a handler that needs the data only."""
    return Typed(model, data_only=handle)


def check_typed(catalogue: dict[str, type[EventData]], handlers: dict[str, EventHandler]) -> None:
    for event_type, handler in handlers.items():
        if isinstance(handler, Typed) and catalogue.get(event_type) is not handler.model:
            raise ValueError(f"{event_type} is not parsed as {handler.model.__name__}")
