"""Fault tools: an update checker on the store's command stream, and a TCP proxy to cut."""

from __future__ import annotations

import asyncio

from pymongo import monitoring

from common.logging import scrub
from common.mongo import conflicting_paths


class UpdateConflictWatch(monitoring.CommandListener):
    """Notes every update sent to the store that names one path under two operators.

    The local store and MongoDB both refuse such an update, but only when it runs; a test that
    never reaches the refused case (an upsert hitting an existing document, say) would miss
    the fault, so the update documents themselves are checked. Paths only, never values."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name == "update":
            updates = [u.get("u") for u in command.get("updates", ())]
        elif event.command_name == "findAndModify":
            updates = [command.get("update")]
        else:
            return
        collection = command.get(event.command_name)
        for update in updates:
            for a, b in conflicting_paths(update or {}):
                self.found.append(scrub(f"{event.database_name}.{collection}: {a!r} and {b!r}"))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return


class TcpProxy:
    """A loopback TCP proxy that a test can cut and restore, to make a server unreachable."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.base_events.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def restore(self) -> None:
        await self.start()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._links.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self._links.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
