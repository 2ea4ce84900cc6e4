"""Census campaigns and verifications: requests and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from common.schemas import Code, RequestModel
from registry.api.schemas import UpdateDriverRequest
from registry.oversight import Campaign


class CampaignRequest(RequestModel):
    quarter: str | None = Field(default=None, pattern=r"^20\d{2}Q[1-4]$")
    grid_ids: list[Code] = Field(default_factory=list, max_length=500)


class VerificationRequest(RequestModel):
    campaign_id: Code | None = Field(default=None, max_length=100)
    changes: UpdateDriverRequest = Field(default_factory=UpdateDriverRequest)


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
