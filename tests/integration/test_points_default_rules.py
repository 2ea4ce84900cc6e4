"""Default earning rules across releases: a default seeded by an earlier release and never
changed by an operator moves on to this release's (the partner rules' caps, 2026-12-07); a rule
an operator changed, or a default this release does not know, is left alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from points.rules import DEFAULT_AUTHOR, SUPERSEDED_DEFAULTS, Rule, RuleSpec
from points.settings import PointsSettings
from points.store.rules import RuleStore


async def _store_version(store: RuleStore, rule_id: str, version: int, spec: Any, by: str) -> None:
    rule = Rule(
        **RuleSpec.model_validate(spec).model_dump(),
        rule_id=rule_id,
        version=version,
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        created_by=by,
    )
    await store.collection.insert_one(
        {"_id": f"{rule_id}@{version}", **rule.model_dump(mode="python")}
    )


def _store(mongo: Any, make_settings: Callable[..., PointsSettings]) -> RuleStore:
    return RuleStore(mongo[make_settings(PointsSettings).mongo_db])


async def test_defaults_seeded_without_caps_take_this_releases_caps_once(
    mongo: Any, make_settings: Callable[..., PointsSettings]
) -> None:
    store = _store(mongo, make_settings)
    for rule_id, [earlier] in SUPERSEDED_DEFAULTS.items():
        await _store_version(store, rule_id, 1, earlier, DEFAULT_AUTHOR)

    await store.seed_defaults()
    # Started again (or by a second instance): nothing more.
    await store.seed_defaults()

    training = await store.versions("training")
    hundred = await store.versions("safety-100-days")
    thirty = await store.versions("safety-30-days")
    assert [(r.version, r.created_by, r.cap_per_day) for r in training] == [
        (2, DEFAULT_AUTHOR, 100),
        (1, DEFAULT_AUTHOR, None),
    ]
    assert [(r.version, r.cap_per_month) for r in hundred] == [(2, 100), (1, None)]
    assert [(r.version, r.cap_per_month) for r in thirty] == [(2, 20), (1, None)]
    # The rules the earning reads are the capped ones.
    current = {r.rule_id: r for r in await store.current("training.completed.v1")}
    assert current["training"].cap_per_day == 100


async def test_a_rule_an_operator_changed_keeps_the_operators_version(
    mongo: Any, make_settings: Callable[..., PointsSettings]
) -> None:
    store = _store(mongo, make_settings)
    [earlier] = SUPERSEDED_DEFAULTS["training"]
    await _store_version(store, "training", 1, earlier, DEFAULT_AUTHOR)
    await _store_version(store, "training", 2, {**earlier, "points": 15}, "op-li")
    # An operator who wrote the old default again chose it: still theirs.
    [safety] = SUPERSEDED_DEFAULTS["safety-30-days"]
    await _store_version(store, "safety-30-days", 1, safety, DEFAULT_AUTHOR)
    await _store_version(store, "safety-30-days", 2, safety, "op-wang")

    await store.seed_defaults()

    [latest, *_] = await store.versions("training")
    assert (latest.version, latest.created_by, latest.cap_per_day) == (2, "op-li", None)
    [latest, *_] = await store.versions("safety-30-days")
    assert (latest.version, latest.created_by, latest.cap_per_month) == (2, "op-wang", None)


async def test_a_default_this_release_does_not_know_is_left_alone(
    mongo: Any, make_settings: Callable[..., PointsSettings]
) -> None:
    """A newer release's default (seen during a rolling upgrade) is not taken back."""
    store = _store(mongo, make_settings)
    [earlier] = SUPERSEDED_DEFAULTS["training"]
    newer = {**earlier, "cap_per_day": 60}
    await _store_version(store, "training", 1, newer, DEFAULT_AUTHOR)

    await store.seed_defaults()

    assert [(r.version, r.cap_per_day) for r in await store.versions("training")] == [(1, 60)]
