"""Census campaigns and verifications: requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from common.schemas import Code, Name, RequestModel
from registry.api.district_schemas import RouteRequest
from registry.api.schemas import UpdateDriverRequest
from registry.census_survey import CensusReport, SurveyInput
from registry.oversight import Campaign
from registry.survey import CensusAnswers, PoliticalStatus


class CampaignRequest(RequestModel):
    quarter: str | None = Field(default=None, pattern=r"^20\d{2}Q[1-4]$")
    grid_ids: list[Code] = Field(default_factory=list, max_length=500)


# An interest is a short code (table_tennis, reading): the campaign's feedback counts them.
Interest = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class NeedRequest(RequestModel):
    category: Code = Field(max_length=50, description="A case category (GET /v1/categories)")
    summary: Name = Field(min_length=1, max_length=200, description="The need in a line")


class SurveyRequest(RequestModel):
    """The census's own questions (seeds/002:19): routes, political status, interests, needs."""

    routes: list[RouteRequest] | None = Field(
        default=None, max_length=20, description="Declared routes (omit: unchanged)"
    )
    political_status: PoliticalStatus | None = None
    political_status_consent: bool = Field(
        default=False, description="The driver agreed to answer this question; required with it"
    )
    interests: list[Interest] = Field(default_factory=list, max_length=20)
    needs: list[NeedRequest] = Field(default_factory=list, max_length=10)

    def input(self) -> SurveyInput:
        return SurveyInput(
            routes=[r.route() for r in self.routes] if self.routes is not None else None,
            political_status=self.political_status,
            political_status_consent=self.political_status_consent,
            interests=list(self.interests),
            needs=[(n.category, n.summary) for n in self.needs],
        )


class VerificationRequest(RequestModel):
    campaign_id: Code | None = Field(default=None, max_length=100)
    changes: UpdateDriverRequest = Field(default_factory=UpdateDriverRequest)
    survey: SurveyRequest | None = Field(
        default=None, description="Answers to the census's own questions (issue 16)"
    )


class NeedView(BaseModel):
    need_id: str
    category: str
    summary: str
    referred_at: datetime | None = None
    referred_by: str | None = None


class CensusAnswersView(BaseModel):
    driver_id: str
    campaign_id: str | None = None
    answered_at: datetime
    answered_by: str
    political_status: PoliticalStatus | None = None
    interests: list[str]
    needs: list[NeedView]

    @classmethod
    def of(cls, driver_id: str, answers: CensusAnswers) -> CensusAnswersView:
        return cls(driver_id=driver_id, **answers.model_dump())


class UnitResultView(BaseModel):
    unit_id: str | None
    drivers_answered: int
    needs: dict[str, int]
    needs_referred: int
    interests: dict[str, int]
    party_members: int
    route_grids: dict[str, int]


class CensusReportView(BaseModel):
    campaign_id: str
    quarter: str
    grids: list[UnitResultView]
    organisations: list[UnitResultView]

    @classmethod
    def of(cls, report: CensusReport) -> CensusReportView:
        return cls(
            campaign_id=report.campaign_id,
            quarter=report.quarter,
            grids=[UnitResultView(**g.model_dump()) for g in report.grids],
            organisations=[UnitResultView(**o.model_dump()) for o in report.organisations],
        )


class GridProgressView(BaseModel):
    grid_id: str | None
    drivers: int
    verified: int
    pending: int


class CampaignView(BaseModel):
    campaign_id: str
    quarter: str
    verified_since: datetime
    grid_ids: list[str]
    started_by: str
    started_at: datetime
    progress: list[GridProgressView] | None = None

    @classmethod
    def of(cls, campaign: Campaign, progress: list[GridProgressView] | None = None) -> CampaignView:
        return cls(**campaign.model_dump(), progress=progress)


class CampaignPage(BaseModel):
    items: list[CampaignView]
    next_cursor: str | None = None
