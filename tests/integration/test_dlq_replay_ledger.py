"""The replay ledger (common.dlq_replay) on the real store: a record is published once however
many ask at once, a failed publish frees it, and a claim its process left behind is taken over
under the same replay id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.auth import Principal
from common.dead_letters import DeadLetterRecord
from common.dlq_replay import CLAIM_SECONDS, REPLAYS, ReplayLedger
from common.problems import Problem

RECORD = DeadLetterRecord(
    topic="registry.events.dlq",
    partition=1,
    offset=7,
    timestamp=datetime(2026, 12, 3, tzinfo=UTC),
    key=b"drv_1",
    value=b"{}",
    headers={"dlq-reason": "handler_failed"},
)
OPS = Principal(sub="ops-1", role="operator", roles=("operations",))


class Sink:
    """Stands for the publisher: records each replay id it is asked to publish."""

    def __init__(self, *, delay: float = 0.0, fail: bool = False) -> None:
        self.published: list[str] = []
        self._delay = delay
        self._fail = fail

    async def __call__(self, replay_id: str) -> None:
        await asyncio.sleep(self._delay)
        if self._fail:
            raise ConnectionError("broker away")
        self.published.append(replay_id)


@pytest.fixture
def ledger(mongo: Any, run_id: str) -> ReplayLedger:
    return ReplayLedger(mongo[f"{run_id}_ledger"][REPLAYS])


async def replay(ledger: ReplayLedger, sink: Sink, reason: str = "fixed") -> Any:
    return await ledger.replay(
        RECORD, original_topic="registry.events", principal=OPS, reason=reason, publish=sink
    )


async def test_two_requests_at_once_publish_once_and_later_ones_answer_the_first(
    ledger: ReplayLedger,
) -> None:
    sink = Sink(delay=0.3)
    outcomes: list[Any] = list(
        await asyncio.gather(replay(ledger, sink), replay(ledger, sink), return_exceptions=True)
    )
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Problem)]
    assert len(done) == 1 and len(refused) == 1 and refused[0].status == 409
    view, published_now = done[0]
    assert published_now and sink.published == [view.replay_id]
    again, now = await replay(ledger, sink, reason="another reason")
    assert not now and again.replay_id == view.replay_id and again.reason == "fixed"
    assert again.state == "published" and again.by == "ops-1"
    assert sink.published == [view.replay_id]


async def test_a_failed_publish_frees_the_record_for_the_next_request(
    ledger: ReplayLedger,
) -> None:
    with pytest.raises(ConnectionError):
        await replay(ledger, Sink(fail=True))
    assert await ledger.get(RECORD) is None
    sink = Sink()
    view, now = await replay(ledger, sink)
    assert now and sink.published == [view.replay_id]


async def test_a_claim_left_publishing_by_a_dead_process_is_taken_over_under_its_id(
    ledger: ReplayLedger, mongo: Any, run_id: str
) -> None:
    long_ago = datetime.now(UTC) - timedelta(seconds=CLAIM_SECONDS + 5)
    await mongo[f"{run_id}_ledger"][REPLAYS].insert_one(
        {
            "_id": f"{RECORD.topic}:{RECORD.partition}:{RECORD.offset}",
            "replay_id": "rpl_left",
            "topic": RECORD.topic,
            "partition": RECORD.partition,
            "offset": RECORD.offset,
            "original_topic": "registry.events",
            "by": "ops-0",
            "role": "operator",
            "reason": "first try",
            "requested_at": long_ago,
            "state": "publishing",
        }
    )
    sink = Sink()
    view, now = await replay(ledger, sink)
    assert now and sink.published == ["rpl_left"]
    assert view.state == "published" and view.by == "ops-0"
