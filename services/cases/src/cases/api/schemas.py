from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from common.schemas import Code, Name, RequestModel, Text

Document = dict[str, Any]


class Attachment(RequestModel):
    name: Name = Field(min_length=1, max_length=200)
    content_type: Name = Field(max_length=100)
    size_bytes: int = Field(ge=1)
    storage_ref: Code = Field(min_length=1, max_length=500, description="Where the file is stored")


class Respondent(RequestModel):
    kind: Literal["company", "platform", "authority", "programme", "person", "other"]
    id: Code | None = Field(default=None, max_length=100, description="Partner id, if it has one")
    name: Name | None = Field(default=None, max_length=200)


class OpenCaseRequest(RequestModel):
    driver_id: Code = Field(min_length=1, max_length=100)
    kind: Literal["question", "help_request", "complaint", "report", "suggestion"]
    category: Name = Field(min_length=1, max_length=50)
    channel: Literal["station", "hotline", "app", "partner"] = "app"
    description: Text = Field(min_length=1, max_length=5000)
    priority: Literal["normal", "high", "urgent"] = "normal"
    emergency: bool = False
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    respondent: Respondent | None = None
    identity_consent: bool = Field(
        default=False, description="The driver agrees that the respondent may see who complains"
    )


class ActionRequest(RequestModel):
    reason_code: Code | None = Field(default=None, max_length=50)
    note: Text | None = Field(default=None, max_length=5000)
    unit_ids: list[Code] = Field(default_factory=list, max_length=5)
    outcome: Code | None = Field(default=None, max_length=30)
    satisfaction: Code | None = Field(default=None, max_length=30)
    solved: Code | None = Field(default=None, max_length=30)
    target_case_id: Code | None = Field(default=None, max_length=100)


class ExtensionRequest(RequestModel):
    working_days: int = Field(ge=1, le=60)
    reason_code: Code = Field(max_length=50)
    note: Text = Field(min_length=1, max_length=2000, description="Why, told to the driver")


class ExtensionDecision(RequestModel):
    approve: bool


class ConsentRequest(RequestModel):
    reveal_identity: bool


class CompensationRequest(RequestModel):
    kind: Literal["restoration", "goodwill"]
    amount: int = Field(gt=0)


class CollectiveRequest(RequestModel):
    case_ids: list[Code] = Field(
        min_length=2,
        max_length=200,
        description="Complaints about one respondent; any already linked name the collective",
    )


class BrokerRequest(RequestModel):
    broker_id: Code = Field(min_length=1, max_length=100)


class ClockView(BaseModel):
    started_at: datetime
    due: datetime
    met_at: datetime | None = None
    breached: bool
    period: int = Field(default=1, description="The period of a recurring clock (progress)")
    provisional: bool = Field(
        default=False,
        description="Counted on weekends only: the public holidays of a year it spans are not "
        "loaded yet; counted again (and announced) once they are",
    )
    provisional_years: list[int] = Field(default_factory=list)


class CaseView(BaseModel):
    case_id: str
    version: int
    status: str
    kind: str
    category: str
    channel: str
    priority: str
    emergency: bool
    driver_id: str | None = Field(description="Hidden from a respondent without the consent")
    station_id: str | None = None
    description: str
    attachments: list[Document] = Field(default_factory=list)
    respondent: Document | None = None
    identity_consent: bool = False
    opened_at: datetime
    round: int
    unit_id: str | None = None
    lead_unit_id: str | None = None
    offered_unit_ids: list[str] = Field(default_factory=list)
    returns: int = 0
    needs_supervisor: bool = False
    final_assignment: bool = False
    outcome: str | None = None
    exempt: bool = False
    merged_into: str | None = None
    absorbed: list[str] = Field(default_factory=list)
    collective_id: str | None = Field(
        default=None, description="The collective of complaints about one respondent, if linked"
    )
    clocks: dict[str, ClockView]
    provisional: bool = Field(
        default=False, description="A running clock's deadline is provisional"
    )
    extension_request: Document | None = None
    extensions: list[Document] = Field(default_factory=list)
    progress_periods: list[Document] = Field(
        default_factory=list, description="Finished periods of the recurring progress clock"
    )
    revisits: list[Document] = Field(default_factory=list)
    compensations: list[Document] = Field(default_factory=list)
    compensations_applied: list[Document] = Field(
        default_factory=list, description="Compensations the points service has credited"
    )
    history: list[Document] = Field(default_factory=list)

    @classmethod
    def of(cls, case: Document, *, for_respondent: bool = False) -> CaseView:
        fields = {k: v for k, v in case.items() if k in cls.model_fields}
        fields["case_id"] = case["_id"]
        fields["clocks"] = {k: v for k, v in case["clocks"].items() if v}
        fields["provisional"] = any(
            v.get("provisional") and v.get("met_at") is None for v in fields["clocks"].values()
        )
        if for_respondent:
            # Merged cases are always one driver's, and consent is given case by case: a merge
            # link from a case naming its driver would name the other, anonymous one's too.
            fields.update(merged_into=None, absorbed=[])
        if for_respondent and not case.get("identity_consent"):
            # A collective may hold complaints whose drivers agreed to be named, the same
            # driver's among them: the link alone would narrow down who filed this one.
            fields.update(
                driver_id=None, station_id=None, attachments=[], history=[], collective_id=None
            )
            fields.pop("revisits", None)
            fields.pop("compensations", None)
            fields.pop("compensations_applied", None)
        return cls.model_validate(fields)


class OpenedView(BaseModel):
    case: CaseView
    # Empty unless the caller is the driver, sees every case or is the driver's care broker
    # (cases.access.sees_duplicates).
    duplicate_candidates: list[str]


class CasePage(BaseModel):
    items: list[CaseView]
    next_cursor: str | None = None


class DossierView(BaseModel):
    driver_id: str
    broker_id: str | None = None
    brokers: list[Document] = Field(default_factory=list)
    cases: list[CaseView]


class CollectiveView(BaseModel):
    collective_id: str
    respondent: Document | None = None
    drivers: int
    open: int
    cases: list[CaseView]
