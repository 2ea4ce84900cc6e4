"""A closed case's texts go after their two years: the description, attachments and
respondent, and every note and comment its history and revisits carry (an earlier purge emptied
the description only, and skipped a case whose description was empty already). The case stays
for the figures, its version moved on. A mutual-help need's contacts (encrypted phone numbers)
and the parties' words go 90 days after its window. Real store."""

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
        rule = retention_rules(settings)[0]
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


async def test_a_needs_contacts_and_words_go_ninety_days_after_its_window(
    mongo: Any, make_settings: Callable[..., CasesSettings]
) -> None:
    settings = make_settings(CasesSettings)
    db = mongo[unique_name("cases_retention_")]
    long_ago, lately = NOW - timedelta(days=91), NOW - timedelta(days=10)
    helper = {"kind": "driver", "id": "drv_h", "contact": "enc:helper", "claimed_at": long_ago}
    feedback = {"rating": 5, "comment": "骆师傅帮我换了轮胎", "by": "drv_a", "at": long_ago}
    try:
        await db["help_needs"].insert_many(
            [
                {
                    "_id": "n-done",
                    "status": "done",
                    "window_end": long_ago,
                    "contact": "enc:poster",
                    "details": "enc:details",
                    "helper": helper,
                    "feedback": feedback,
                },
                {
                    "_id": "n-unclaimed",
                    "status": "unclaimed",
                    "window_end": long_ago,
                    "contact": "enc:poster",
                    "details": None,
                    "helper": None,
                    "feedback": None,
                },
                {
                    "_id": "n-lately",
                    "status": "claimed",
                    "window_end": lately,
                    "contact": "enc:poster",
                    "details": None,
                    "helper": helper,
                    "feedback": None,
                },
            ]
        )
        for rule in retention_rules(settings):
            await rule.apply(db, NOW, batch_size=50)
        needs = {d["_id"]: d async for d in db["help_needs"].find({})}
    finally:
        await mongo.drop_database(db.name)
    done = needs["n-done"]
    assert (done["contact"], done["details"], done["helper"]["contact"]) == (None, None, None)
    assert done["feedback"] == {**feedback, "comment": None}
    assert (done["status"], done["helper"]["id"]) == ("done", "drv_h")
    assert needs["n-unclaimed"]["contact"] is None and needs["n-unclaimed"]["helper"] is None
    assert needs["n-lately"]["contact"] == "enc:poster"
    assert needs["n-lately"]["helper"]["contact"] == "enc:helper"


async def test_decided_aid_applications_and_visits_lose_what_describes_the_home_after_two_years(
    mongo: Any, make_settings: Callable[..., CasesSettings]
) -> None:
    settings = make_settings(CasesSettings)
    db = mongo[unique_name("cases_retention_")]
    long_ago, lately = NOW - timedelta(days=731), NOW - timedelta(days=30)
    household = {"members": 4, "income_yuan": 2100, "note": "妻子住院"}
    reviews = [{"stage": "first", "by": "care-1", "note": "工资条已核实", "amount_yuan": 2000}]

    def application(app_id: str, status: str, applied_at: datetime) -> dict[str, Any]:
        return {
            "_id": app_id,
            "status": status,
            "version": 3,
            "kind": "living",
            "applied_at": applied_at,
            "household": household,
            "documents": [{"name": "wage-slip.pdf"}],
            "statement": "家中老人住院",
            "reviews": reviews,
            "amount_yuan": 2000,
        }

    try:
        await db["aid_applications"].insert_many(
            [
                application("a-granted", "granted", long_ago),
                application("a-in-review", "first_approved", long_ago),
                application("a-lately", "rejected", lately),
            ]
        )
        await db["aid_visits"].insert_many(
            [
                {"_id": "v-old", "findings": "家中老人需要照护", "recorded_at": long_ago},
                {"_id": "v-new", "findings": "孩子上学困难", "recorded_at": lately},
            ]
        )
        for rule in retention_rules(settings):
            await rule.apply(db, NOW, batch_size=50)
        apps = {d["_id"]: d async for d in db["aid_applications"].find({})}
        visits = {d["_id"]: d["findings"] async for d in db["aid_visits"].find({})}
    finally:
        await mongo.drop_database(db.name)
    granted = apps["a-granted"]
    assert (granted["household"], granted["documents"], granted["statement"]) == ({}, [], "")
    assert granted["reviews"] == [{**reviews[0], "note": ""}]
    assert (granted["amount_yuan"], granted["version"], granted[TEXTS_GONE]) == (2000, 4, True)
    for kept in ("a-in-review", "a-lately"):
        assert apps[kept]["household"] == household and apps[kept]["version"] == 3
    assert visits == {"v-old": "", "v-new": "孩子上学困难"}
