"""Moving a subtree is crash-safe (issue 16): a move interrupted half-way by a crash is finished
when the registry next starts, every node of the subtree ends where the move put it, and each
node is announced once for the move; one move per tree at a time, and a claim a dead replica
left is taken over (over HTTP, the real store and registry.events)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.events import CloudEvent
from common.faults import InjectedFault
from common.testing import wait_until
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.integration.stations_harness import read_whole_topic
from tests.support import serve

Headers = Callable[..., dict[str, str]]


async def _org(http: httpx.AsyncClient, token: Headers, name: str, parent: str | None) -> str:
    body = {"name": name, "kind": "industry_association", "parent_id": parent}
    answer = await http.post("/v1/organisations", json=body, headers=token())
    assert answer.status_code == 201, answer.text
    return str(answer.json()["organisation_id"])


async def test_a_subtree_move_interrupted_half_way_is_finished_at_start_up_and_announced_once(
    make_settings: Callable[..., RegistrySettings],
    token: Headers,
    mongo: Any,
    tmp_path: Path,
) -> None:
    # The process "crashes" right after the first descendant got its new ancestors.
    settings = make_settings(
        RegistrySettings,
        faults={"registry.tree_move.descendant.1": f"raise_once:{tmp_path / 'crashed'}"},
    )
    db = mongo[settings.mongo_db]
    async with serve(create_app(settings)) as http:
        old, new = [await _org(http, token, name, None) for name in ("旧党委", "新党委")]
        moved = await _org(http, token, "行业协会", old)
        first, second = [await _org(http, token, name, moved) for name in ("支部一", "支部二")]
        deepest = await _org(http, token, "支部一小组", first)
        with pytest.raises(InjectedFault):
            await http.put(
                f"/v1/organisations/{moved}/parent", json={"parent_id": new}, headers=token()
            )
    # What the crash left: a mixed tree and the plan in the journal.
    below = {
        d["_id"]: d["ancestor_ids"] async for d in db["organisations"].find({"ancestor_ids": moved})
    }
    # (which descendant went first depends on the ids: count the roots they hang from)
    assert sorted(ancestors[0] for ancestors in below.values()) == sorted([new, old, old])
    journal = await db["tree_moves"].find_one({"_id": "organisations"})
    assert journal is not None and journal["state"] == "moving"

    async with serve(create_app(settings)) as http:

        async def subtree(root: str) -> dict[str, list[str]]:
            answer = await http.get(f"/v1/organisations/{root}/subtree", headers=token())
            assert answer.status_code == 200, answer.text
            return {o["organisation_id"]: o["ancestor_ids"] for o in answer.json()["items"]}

        assert await subtree(new) == {
            new: [],
            moved: [new],
            first: [new, moved],
            second: [new, moved],
            deepest: [new, moved, first],
        }
        assert await subtree(old) == {old: []}
        # Moving it back works: the journal was released.
        back = await http.put(
            f"/v1/organisations/{deepest}/parent", json={"parent_id": second}, headers=token()
        )
        assert back.status_code == 200 and back.json()["ancestor_ids"] == [new, moved, second]

        await _one_move_per_tree_and_a_stale_claim_is_taken_over(http, token, db)

        async def announced() -> list[CloudEvent] | None:
            raw = await read_whole_topic(
                settings.kafka_bootstrap, settings.topic("registry.events")
            )
            events = [CloudEvent.model_validate_json(v) for v in raw]
            placed = [
                e
                for e in events
                if e.type == "organisation.placed.v1"
                and (e.data or {}).get("moved_root_id") == moved
            ]
            return (
                placed if {e.subject for e in placed} == {moved, first, second, deepest} else None
            )

        placed = await wait_until(announced)
    once = {e.id: e for e in placed}  # at least once on the wire; once per node and move
    assert Counter(e.subject for e in once.values()) == dict.fromkeys(
        (moved, first, second, deepest), 1
    )
    final = {e.subject: (e.data or {})["ancestor_ids"] for e in once.values()}
    assert final == {
        moved: [new],
        first: [new, moved],
        second: [new, moved],
        deepest: [new, moved, first],
    }
    assert {(e.data or {})["previous_parent_id"] for e in once.values()} == {old}


async def _one_move_per_tree_and_a_stale_claim_is_taken_over(
    http: httpx.AsyncClient, token: Headers, db: Any
) -> None:
    """A move while another replica checks its own answers 409; a claim older than the lease
    (its replica died before writing a plan) is taken over (one app start serves both)."""
    body = {"name": "物流工业社区", "community": "物流工业社区", "level": "community"}
    community = (await http.post("/v1/grids", json=body, headers=token())).json()["grid_id"]
    body = {**body, "name": "第一网格", "level": "grid"}
    grid = (await http.post("/v1/grids", json=body, headers=token())).json()["grid_id"]
    claimed = {
        "state": "claimed",
        "seq": 7,
        "owner": "another-replica",
        "claimed_at": datetime.now(UTC),
    }
    await db["tree_moves"].update_one({"_id": "grids"}, {"$set": claimed}, upsert=True)
    move = {"parent_id": community}
    busy = await http.put(f"/v1/grids/{grid}/parent", json=move, headers=token())
    assert busy.status_code == 409, busy.text
    assert busy.headers["content-type"].startswith("application/problem+json")
    stale = {"claimed_at": datetime.now(UTC) - timedelta(minutes=5)}
    await db["tree_moves"].update_one({"_id": "grids"}, {"$set": stale})
    done = await http.put(f"/v1/grids/{grid}/parent", json=move, headers=token())
    assert done.status_code == 200 and done.json()["ancestor_ids"] == [community], done.text
