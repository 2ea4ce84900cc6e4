"""What the quarterly census asks beyond the register (issue 16): Xuecheng's census collects
"车辆情况、线路行程及行业从业人员的政治面貌、兴趣爱好、主要需求" (seeds/002:19). Routes are
declared through the district (route grids); the rest is kept here, on the driver, as the
latest answers. Pure models, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common.case_categories import CASE_CATEGORIES

# 政治面貌: asked only with the driver's explicit consent to this question (sensitive under PIPL).
PoliticalStatus = Literal[
    "party_member", "probationary_party_member", "league_member", "masses", "other"
]
# The cases service's categories (common.case_categories): a need raised in the census becomes
# a case of its category.
NEED_CATEGORIES: frozenset[str] = frozenset(CASE_CATEGORIES)


class CensusNeed(BaseModel):
    model_config = ConfigDict(frozen=True)

    need_id: str
    category: str
    summary: str
    referred_at: datetime | None = None
    referred_by: str | None = None


class CensusAnswers(BaseModel):
    """The driver's latest census answers (each census replaces the previous ones)."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str | None = None
    answered_at: datetime
    answered_by: str
    political_status: PoliticalStatus | None = None
    interests: list[str] = Field(default_factory=list)
    needs: list[CensusNeed] = Field(default_factory=list)

    def need(self, need_id: str) -> CensusNeed | None:
        return next((n for n in self.needs if n.need_id == need_id), None)
