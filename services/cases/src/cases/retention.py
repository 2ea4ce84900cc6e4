"""How long cases keeps the texts of a case (docs/security.md, "Retention");
``common.retention`` purges them. Overridable per class by the ``retention_days`` setting.

A closed case keeps its description, attachments and respondent for two years (a revisit, a
complaint about the handling, the yearly figures' review); then they go and the case stays for
the figures with its clocks, like an erased driver's case.
"""

from __future__ import annotations

from cases.settings import CasesSettings
from cases.store.cases import CASES
from common.retention import Expire, RetentionRule, days

CASE_TEXT_DAYS = 730.0


def retention_rules(settings: CasesSettings) -> list[RetentionRule]:
    return [
        Expire(
            "closed case texts",
            CASES,
            "closed_at",
            days(settings.retention_days, "closed case texts", CASE_TEXT_DAYS),
            where={"description": {"$ne": ""}},
            strip={"$set": {"description": "", "attachments": [], "respondent": None}},
        )
    ]
