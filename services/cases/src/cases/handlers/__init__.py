"""Consumers of other services' topics: each handler turns an event into a typed command and
makes one use-case call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from common.bus import EventHandler
from common.events import CloudEvent, EventData

E = TypeVar("E", bound=EventData)


def on(model: type[E], handle: Callable[[E], Awaitable[None]]) -> EventHandler:
    """A consumer handler for events of one class (the consumer parses by event type)."""

    async def handler(event: CloudEvent, data: EventData) -> None:
        if not isinstance(data, model):
            raise TypeError(f"{event.type} carries {type(data).__name__}, not {model.__name__}")
        await handle(data)

    return handler
