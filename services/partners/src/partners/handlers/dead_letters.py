"""Handler for the partner topics' dead-letter queues: one use-case call per record."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from partners.receipts import Receipts


class DeadLetterHandlers:
    def __init__(self, receipts: Receipts) -> None:
        self._receipts = receipts

    async def on_dead_letter(self, record: ConsumerRecord[bytes, bytes]) -> None:
        await self._receipts.on_dead_letter(record)
