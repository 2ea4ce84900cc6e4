"""Dead letters: the original bytes on ``<topic>.dlq`` with headers saying why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from common.logging import scrub

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


@dataclass(frozen=True)
class DeadLetter:
    """What the DLQ record says about the message it carries."""

    reason: str
    error: str
    group_id: str
    topic: str
    partition: int
    offset: int

    def headers(self) -> dict[str, str]:
        return {
            "dlq-reason": self.reason,
            # Scrubbed: an error text may quote input, and input may hold personal numbers.
            "dlq-error": scrub(self.error)[:1000],
            "dlq-consumer-group": self.group_id,
            "dlq-original-topic": self.topic,
            "dlq-original-partition": str(self.partition),
            "dlq-original-offset": str(self.offset),
            "dlq-time": datetime.now(UTC).isoformat(),
        }
