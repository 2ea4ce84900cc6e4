"""What cases forgets when the registry erases a driver (``common.erasure``).

The cases stay for the figures (counts per category, clocks kept or breached) under a pseudonym:
the description, every note, attachments, the respondent and any actor id naming the driver go.
The care dossier goes, and the driver's place on a broker's roster. The mutual-help needs the
driver posted go; on needs the driver helped with, the helper becomes the pseudonym and the
helper's contact goes. Honours: the driver's nominations and the votes for them go, so do the
nominations the driver made; an announced round keeps the driver among its winners as the
pseudonym. Aid applications stay (kind, status, amount) under the pseudonym without the
household facts, the documents, the statement or the reviewers' notes; the followed credit grade
goes. Campaign deliveries and hardship visits stay under the pseudonym, the visits without
findings or visitors. Party-member life: the consent followed, the meeting attendance, the
learning time and the member-point ledger and caps go (a branch's held meetings keep their
counts only).
"""

from __future__ import annotations

import re
from typing import Any

from cases.aid_visits import VISITS
from cases.census_referrals import REFERRALS
from cases.honours import forget_winner
from cases.store.aid import APPLICATIONS, GRADES, OPEN_KEY
from cases.store.aid_campaigns import DELIVERIES
from cases.store.cases import CASES
from cases.store.commitments import COMMITMENTS
from cases.store.dossiers import DOSSIERS
from cases.store.honours import MILESTONES, NOMINATIONS, ROUNDS, VOTES
from cases.store.needs import NEEDS
from cases.store.party import ATTENDANCE, CAPS, LEARNING, LEDGER, MEMBERS
from cases.store.rosters import DRIVERS, ROSTERS
from cases.store.units import DRIVER_UNITS
from common.erasure import Forget, by, scrubbed

# Free texts the driver or a handler wrote about the driver's matter, at any depth.
# A case's free texts, at any depth (its history's notes, a revisit's answer, ...): what an
# erasure empties, and the retention of closed cases too (cases.retention).
CASE_TEXTS = frozenset({"description", "note", "comment", "attachments", "respondent", "answer"})

KEPT = ("cases without texts under a pseudonym (figures and clocks)",)


def _pseudonymous_case(doc: dict[str, Any], driver_id: str, anon: str) -> dict[str, Any]:
    case: dict[str, Any] = scrubbed(doc, driver_id, anon, CASE_TEXTS)
    case["driver_id"] = anon
    case["description"] = ""
    case["attachments"] = []
    return case


def _pseudonymous_application(doc: dict[str, Any], driver_id: str, anon: str) -> dict[str, Any]:
    """Granted amounts per kind stay for the figures; what describes the household goes."""
    reviews = [{**r, "note": ""} for r in doc.get("reviews", [])]
    kept = {k: v for k, v in doc.items() if k != OPEN_KEY}  # it names the driver
    return kept | {
        "driver_id": anon,
        "applied_by": anon if doc.get("applied_by") else "",
        "household": {},
        "documents": [],
        "statement": "",
        "reviews": reviews,
    }


STEPS = (
    Forget("care dossier", DOSSIERS, by("_id")),
    Forget(
        "care broker rosters",
        ROSTERS,
        by(DRIVERS),
        update=lambda driver_id, _anon: {"$pull": {DRIVERS: driver_id}},
    ),
    Forget("mutual-help needs posted", NEEDS, by("driver_id")),
    Forget(
        "mutual-help needs helped: helper and contact",
        NEEDS,
        lambda driver_id: {"helper.kind": "driver", "helper.id": driver_id},
        update=lambda _driver_id, anon: {
            "$set": {"helper.id": anon, "helper.sub": anon, "helper.contact": None}
        },
    ),
    Forget("honours: nominations of the driver", NOMINATIONS, by("driver_id")),
    Forget("honours: the last safety milestone", MILESTONES, by("_id")),
    Forget(
        "honours: votes for the driver's nominations",
        VOTES,
        lambda driver_id: {"nomination_id": {"$regex": f":{re.escape(driver_id)}$"}},
    ),
    Forget(
        "honours: nominations the driver made",
        NOMINATIONS,
        lambda driver_id: {"nominators": {"$elemMatch": {"kind": "driver", "id": driver_id}}},
        update=lambda driver_id, _anon: {
            "$pull": {"nominators": {"kind": "driver", "id": driver_id}}
        },
    ),
    Forget(
        "honours: announced winner",
        ROUNDS,
        lambda driver_id: {"winners.driver_id": driver_id},
        rewrite=forget_winner,
    ),
    # 三亮三比: the driver's own pledges, notes and assessments (the nominations they led to
    # go with the honours steps above).
    Forget("三亮三比 commitments", COMMITMENTS, by("driver_id")),
    Forget(
        "aid applications: household, documents, statement, review notes",
        APPLICATIONS,
        by("driver_id"),
        rewrite=_pseudonymous_application,
        guard="version",
    ),
    Forget("credit grade followed for aid", GRADES, by("_id")),
    Forget(
        "campaign gifts: the recipient",
        DELIVERIES,
        by("driver_id"),
        update=lambda _driver_id, anon: {"$set": {"driver_id": anon}},
    ),
    Forget(
        "hardship visits: findings and visitors",
        VISITS,
        by("driver_id"),
        update=lambda _driver_id, anon: {
            "$set": {"driver_id": anon, "findings": "", "visitors": []}
        },
    ),
    Forget("party life: the consent followed", MEMBERS, by("_id")),
    Forget("party life: meeting attendance", ATTENDANCE, by("driver_id")),
    Forget("party life: learning time", LEARNING, by("driver_id")),
    Forget("party life: member-point ledger", LEDGER, by("driver_id")),
    Forget("party life: member-point caps", CAPS, by("driver_id")),
    Forget("the driver's grid, organisations and route grids", DRIVER_UNITS, by("_id")),
    Forget("census needs referred", REFERRALS, by("driver_id")),
    Forget(
        "cases: descriptions, notes, attachments",
        CASES,
        by("driver_id"),
        rewrite=_pseudonymous_case,
        guard="version",
    ),
)
