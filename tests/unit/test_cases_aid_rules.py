"""Aid kinds' eligibility rules (cases.aid_kinds) and what erasure keeps of an application."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cases.aid_kinds import Document, Household, check, load_kinds
from cases.erasure import _pseudonymous_application

KINDS = load_kinds()


def papers(*types: str) -> list[Document]:
    return [Document(name=f"{t}.pdf", type=t, size=10, digest="sha256:00") for t in types]


def test_a_household_within_the_rules_with_its_documents_is_eligible() -> None:
    family = Household(members=3, monthly_income_yuan=4500)
    verdict = check(KINDS["living"], "A", family, papers("income_statement", "household_register"))
    assert verdict.eligible


def test_every_failed_rule_is_named_at_once() -> None:
    family = Household(members=2, monthly_income_yuan=9000)
    verdict = check(KINDS["study"], "A", family, papers("income_statement"))
    assert verdict.reasons == [
        "grade A below AA",
        "income per member above 2500 yuan a month",
        "household needs children_in_school >= 1",
        "document missing: enrolment_certificate",
    ]
    better = check(KINDS["study"], "AAA", Household(2, 1000, children_in_school=1), papers())
    assert better.reasons == [
        "document missing: enrolment_certificate",
        "document missing: income_statement",
    ]


def test_serious_illness_has_no_income_limit_but_needs_someone_ill() -> None:
    rich = Household(members=1, monthly_income_yuan=50_000)
    refused = check(KINDS["serious_illness"], "A", rich, papers("diagnosis", "medical_bills"))
    assert refused.reasons == ["household needs seriously_ill >= 1"]
    ill = Household(members=1, monthly_income_yuan=50_000, seriously_ill=1)
    assert check(KINDS["serious_illness"], "A", ill, papers("diagnosis", "medical_bills")).eligible


def test_kinds_come_from_a_file_and_a_bad_grade_is_refused(tmp_path: Path) -> None:
    spec = {
        "title": {"zh-CN": "冬送温暖", "en": "Winter warmth"},
        "min_grade": "A",
        "max_income_per_member_yuan": None,
        "min_household": {},
        "documents": [],
        "max_amount_yuan": 300,
    }
    path = tmp_path / "kinds.json"
    path.write_text(json.dumps({"winter": spec}), encoding="utf-8")
    assert list(load_kinds(str(path))) == ["winter"]
    path.write_text(json.dumps({"winter": spec | {"min_grade": "B"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="winter"):
        load_kinds(str(path))


def test_erasure_keeps_the_grant_and_drops_what_describes_the_household() -> None:
    doc = {
        "_id": "A1",
        "driver_id": "d1",
        "kind": "living",
        "status": "granted",
        "amount_yuan": 2000,
        "applied_by": "sub-d1",
        "household": {"members": 3},
        "documents": [{"name": "wage-slip.pdf"}],
        "statement": "hospital",
        "reviews": [{"by": "care-1", "note": "checked the slip", "amount_yuan": 2000}],
    }
    kept = _pseudonymous_application(doc, "d1", "anon-1")
    assert kept["driver_id"] == "anon-1" and kept["amount_yuan"] == 2000
    assert kept["household"] == {} and kept["documents"] == [] and kept["statement"] == ""
    assert kept["reviews"] == [{"by": "care-1", "note": "", "amount_yuan": 2000}]
    assert "d1" not in json.dumps({k: v for k, v in kept.items() if k != "_id"})
