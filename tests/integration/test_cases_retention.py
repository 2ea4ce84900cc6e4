"""A closed case's texts go after their two years: the description, attachments and
respondent, and every note and comment its history and revisits carry (an earlier purge emptied
the description only, and skipped a case whose description was empty already). The case stays
for the figures, its version moved on. Real store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cases.retention import TEXTS_GONE, retention_rules
from cases.settings import CasesSettings
from common.testing import unique_name

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
NOTE = "已联系骆振国所在车队, 老板答应月底结清"


def _case(case_id: str, closed_at: datetime | None, description: str) -> dict[str, Any]:
    return {
        "_id": case_id,
        "version": 7,
        "status": "closed" if closed_at else "in_progress",
        "category": "freight_payment",
        "description": description,
        "attachments": [{"name": "waybill.jpg", "content_type": "image/jpeg"}],
        "respondent": {"kind": "fleet", "name": "宁波某车队"},
        "history": [
            {"action": "open", "by": "drv_a", "at": NOW - timedelta(days=900)},
            {"action": "reply", "by": "handler-1", "note": NOTE, "at": NOW - timedelta(days=800)},
        ],
        "revisits": [{"by": "revisit-1", "comment": NOTE, "satisfied": True}],
        "closed_at": closed_at,
    }


async def test_closed_cases_lose_every_text_after_two_years_and_keep_their_figures(
    mongo: Any, make_settings: Callable[..., CasesSettings]
) -> None:
    settings = make_settings(CasesSettings)
    db = mongo[unique_name("cases_retention_")]
    long_ago, lately = NOW - timedelta(days=731), NOW - timedelta(days=30)
    try:
        await db["cases"].insert_many(
            [
                _case("c-old", long_ago, "运费拖欠九十天"),
                _case("c-old-empty", long_ago, ""),
                _case("c-lately", lately, "刚结案"),
                _case("c-open", None, "还在处理"),
            ]
        )
        [rule] = retention_rules(settings)
        first = await rule.apply(db, NOW, batch_size=1)
        again = await rule.apply(db, NOW, batch_size=1)
        cases = {d["_id"]: d async for d in db["cases"].find({})}
    finally:
        await mongo.drop_database(db.name)
    assert (first, again) == (2, 0)
    for purged in ("c-old", "c-old-empty"):
        case = cases[purged]
        assert NOTE not in str(case) and "waybill" not in str(case) and "车队" not in str(case)
        assert (case["description"], case["attachments"], case["respondent"]) == ("", [], None)
        assert [h["action"] for h in case["history"]] == ["open", "reply"]
        assert case["revisits"][0]["satisfied"] is True
        assert case["version"] == 8 and case[TEXTS_GONE] is True
    for kept in ("c-lately", "c-open"):
        assert NOTE in str(cases[kept]) and cases[kept]["version"] == 7
