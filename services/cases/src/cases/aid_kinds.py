"""Aid kinds and their eligibility rules (issue 17; docs/cases.md "Aid applications").

Xuecheng's 五大 support: living, study and serious-illness aid and elderly care. A kind is data
(``DEFAULT_KINDS``, or a JSON file named by ``aid_kinds_file`` with the same shape), so the
committee changes amounts and rules without a release. Every rule is checked when a driver
applies; a refusal names every rule that failed, so the driver can fix all at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The credit grade points announces (points.grade_changed.v1); every account starts at "A".
GRADES = ("A", "AA", "AAA")
STARTING_GRADE = "A"
DOCUMENT_MAX_BYTES = 20 * 1024 * 1024

DEFAULT_KINDS: dict[str, dict[str, Any]] = {
    "living": {
        "title": {"zh-CN": "生活救助", "en": "Living aid"},
        "min_grade": "A",
        "max_income_per_member_yuan": 1500,
        "min_household": {},
        "documents": ["income_statement", "household_register"],
        "max_amount_yuan": 3000,
    },
    "study": {
        "title": {"zh-CN": "助学救助", "en": "Study aid"},
        "min_grade": "AA",
        "max_income_per_member_yuan": 2500,
        "min_household": {"children_in_school": 1},
        "documents": ["enrolment_certificate", "income_statement"],
        "max_amount_yuan": 5000,
    },
    "serious_illness": {
        "title": {"zh-CN": "大病救助", "en": "Serious-illness aid"},
        "min_grade": "A",
        "max_income_per_member_yuan": None,
        "min_household": {"seriously_ill": 1},
        "documents": ["diagnosis", "medical_bills"],
        "max_amount_yuan": 20000,
    },
    "elderly_care": {
        "title": {"zh-CN": "养老帮扶", "en": "Elderly care"},
        "min_grade": "A",
        "max_income_per_member_yuan": 2000,
        "min_household": {"elderly_dependants": 1},
        "documents": ["household_register"],
        "max_amount_yuan": 2000,
    },
}


@dataclass(frozen=True)
class AidKind:
    kind: str
    title: dict[str, str]
    min_grade: str
    max_income_per_member_yuan: int | None
    min_household: dict[str, int]
    documents: list[str]
    max_amount_yuan: int

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: v for k, v in self.__dict__.items() if k != "kind"}}


@dataclass(frozen=True)
class Household:
    """What the applicant declares; staff check it against the documents."""

    members: int
    monthly_income_yuan: int
    children_in_school: int = 0
    elderly_dependants: int = 0
    seriously_ill: int = 0


@dataclass(frozen=True)
class Document:
    """Attachment metadata only: the file itself stays with the driver or the office."""

    name: str
    type: str
    size: int
    digest: str


@dataclass(frozen=True)
class Eligibility:
    reasons: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.reasons


def load_kinds(path: str = "") -> dict[str, AidKind]:
    raw = json.loads(Path(path).read_text(encoding="utf-8")) if path else DEFAULT_KINDS
    kinds = {name: AidKind(kind=name, **spec) for name, spec in raw.items()}
    for kind in kinds.values():
        if kind.min_grade not in GRADES or kind.max_amount_yuan <= 0:
            raise ValueError(f"aid kind {kind.kind}: bad min_grade or max_amount_yuan")
    return kinds


def check(
    kind: AidKind, grade: str, household: Household, documents: list[Document]
) -> Eligibility:
    """Every rule of ``kind`` the application fails, as short codes with the figures."""
    reasons: list[str] = []
    if GRADES.index(grade) < GRADES.index(kind.min_grade):
        reasons.append(f"grade {grade} below {kind.min_grade}")
    limit = kind.max_income_per_member_yuan
    if limit is not None and household.monthly_income_yuan > limit * household.members:
        reasons.append(f"income per member above {limit} yuan a month")
    for fact, least in kind.min_household.items():
        if getattr(household, fact) < least:
            reasons.append(f"household needs {fact} >= {least}")
    given = {d.type for d in documents}
    reasons.extend(f"document missing: {t}" for t in kind.documents if t not in given)
    return Eligibility(reasons)
