"""A need a driver named in the registry's census becomes a case (issue 16): the registry's
``census.need_referred.v1`` is the one action; cases opens the case itself, as the care desk."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from cases import domain
from cases.intake import CaseIntake, Intake
from common.auth import Principal
from common.events.registry import CensusNeedReferred
from common.logging import get_logger

Document = dict[str, Any]
log = get_logger(__name__)

REFERRALS = "census_referrals"
# Opens the case: an operator principal with the care actor (cases.access), like the
# mutual-help board's.
CENSUS_DESK = Principal(sub="census-referral", role="operator", scope="cases:care")


class CensusReferrals:
    def __init__(self, intake: CaseIntake, db: AsyncDatabase[Document]) -> None:
        self._intake = intake
        self.collection = db[REFERRALS]

    async def refer(self, data: CensusNeedReferred) -> None:
        """One case per need. A redelivered event finds the case already opened; a crash after
        opening and before noting it may open a second, which intake lists as a duplicate
        candidate (a need is not lost)."""
        key = f"{data.driver_id}:{data.need_id}"
        known = await self.collection.find_one({"_id": key})
        if known and known.get("case_id"):
            return
        category = data.category if data.category in domain.CATEGORIES else "other"
        intake = Intake(
            kind="help_request",
            category=category,
            channel="hotline",
            description=f"普查需求 / need named in the census: {data.summary}",
            driver_id=data.driver_id,
        )
        opened = await self._intake.open_case(CENSUS_DESK, intake)
        await self.collection.update_one(
            {"_id": key},
            {"$set": {"driver_id": data.driver_id, "case_id": opened.case.id}},
            upsert=True,
        )
        log.info("census need opened as a case", case_id=opened.case.id)
