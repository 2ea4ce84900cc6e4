"""三亮三比 public commitments over HTTP (docs/commitments.md): publish, revise, progress notes,
the driver's self-assessment and the organisation's evaluation, and the public list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cases.commitments import Commitments, Evaluation, Pledges
from common.auth import Principal
from common.authz import require_scope
from common.events.commitments import Grade
from common.events.honours import HonourCategory

router = APIRouter(prefix="/v1/commitments", tags=["commitments"])

# Drivers act on their own commitment; operators need party:branch (a branch's secretary, held
# to their own organisation in the use case) or party:manage's roles, which include it.
Writer = Annotated[Principal, Depends(require_scope("party:branch", or_roles=("driver",)))]
Reader = Annotated[
    Principal, Depends(require_scope("party:branch", or_roles=("driver", "station")))
]


async def _commitments(request: Request) -> Commitments:
    commitments: Commitments = request.app.state.commitments
    return commitments


CommitmentsDep = Annotated[Commitments, Depends(_commitments)]
Text = Annotated[str, Field(min_length=1, max_length=300)]


class PledgesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity: Text = Field(description="亮身份: who I am (a party member, my work)")
    standard: Text = Field(description="亮标准: the service standard I keep")
    promise: Text = Field(description="亮承诺: what I promise for the period")
    display_name: str | None = Field(default=None, min_length=1, max_length=20)

    def pledges(self) -> Pledges:
        return Pledges(identity=self.identity, standard=self.standard, promise=self.promise)


class PublishBody(PledgesBody):
    driver_id: str | None = Field(
        default=None, max_length=64, description="Only when the organisation publishes for them"
    )
    organisation_id: str = Field(min_length=1, max_length=64, description="A party organisation")
    period: str = Field(min_length=4, max_length=7, description="YYYY or YYYY-MM")
    display_name: str = Field(min_length=1, max_length=20, description="How the list names them")


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=500)


class Scores(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: int = Field(ge=1, le=5, description="比服务")
    skill: int = Field(ge=1, le=5, description="比技能")
    practice: int = Field(ge=1, le=5, description="比践行")


class SelfAssessmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: Scores
    text: str = Field(min_length=1, max_length=500, description="自评")


class EvaluationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: Scores
    grade: Grade
    comment: str | None = Field(default=None, max_length=500)
    nominate: HonourCategory | None = Field(
        default=None, description="Nominate the driver for this honour (as the organisation)"
    )
    nominate_period: str | None = Field(
        default=None,
        min_length=4,
        max_length=7,
        description="The honour round's period (YYYY-MM for a monthly star); default: the "
        "commitment's",
    )


class PublicCommitment(BaseModel):
    # No id: the public learns no handle that a secretary's or a driver's requests take.
    display_name: str
    organisation_id: str
    period: str
    pledges: dict[str, str]
    state: str
    published_at: datetime
    self_scores: dict[str, int] | None = None
    evaluation_scores: dict[str, int] | None = None
    grade: Grade | None = None


class CommitmentView(BaseModel):
    commitment_id: str
    driver_id: str
    organisation_id: str
    period: str
    display_name: str
    pledges: dict[str, str]
    state: str
    published_by: str
    published_at: datetime
    notes: list[dict[str, Any]]
    self_assessment: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None


def full_view(doc: dict[str, Any]) -> CommitmentView:
    fields = {k: doc.get(k) for k in CommitmentView.model_fields if k != "commitment_id"}
    return CommitmentView(commitment_id=doc["_id"], **fields)


def public_view(doc: dict[str, Any]) -> PublicCommitment:
    return PublicCommitment(
        display_name=doc["display_name"],
        organisation_id=doc["organisation_id"],
        period=doc["period"],
        pledges=doc["pledges"],
        state=doc["state"],
        published_at=doc["published_at"],
        self_scores=(doc.get("self_assessment") or {}).get("scores"),
        evaluation_scores=(doc.get("evaluation") or {}).get("scores"),
        grade=(doc.get("evaluation") or {}).get("grade"),
    )


@router.post("", status_code=201, summary="Publish a 三亮三比 commitment (the driver, or the org)")
async def publish(
    body: PublishBody, principal: Writer, commitments: CommitmentsDep
) -> CommitmentView:
    driver_id = body.driver_id or principal.driver_id or ""
    doc = await commitments.publish(
        principal,
        driver_id=driver_id,
        organisation_id=body.organisation_id,
        period=body.period,
        display_name=body.display_name,
        pledges=body.pledges(),
    )
    return full_view(doc)


@router.get("", summary="The public list of an organisation's commitments for a period")
async def public_list(
    organisation_id: Annotated[str, Query(min_length=1, max_length=64)],
    period: Annotated[str, Query(min_length=4, max_length=7)],
    principal: Reader,
    commitments: CommitmentsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[PublicCommitment]:
    return [public_view(d) for d in await commitments.public_list(organisation_id, period, limit)]


@router.get("/{commitment_id}", summary="One commitment with its notes (the driver, the org)")
async def read(
    commitment_id: str, principal: Writer, commitments: CommitmentsDep
) -> CommitmentView:
    return full_view(await commitments.read(principal, commitment_id))


@router.put("/{commitment_id}/pledges", summary="Revise the pledges while the period runs")
async def revise(
    commitment_id: str, body: PledgesBody, principal: Writer, commitments: CommitmentsDep
) -> CommitmentView:
    doc = await commitments.revise(principal, commitment_id, body.pledges(), body.display_name)
    return full_view(doc)


@router.post("/{commitment_id}/notes", status_code=201, summary="A progress note")
async def note(
    commitment_id: str, body: NoteBody, principal: Writer, commitments: CommitmentsDep
) -> CommitmentView:
    return full_view(await commitments.note(principal, commitment_id, body.text))


@router.post(
    "/{commitment_id}/self-assessment",
    status_code=201,
    summary="The driver's self-assessment (比) in the period's last month",
)
async def self_assess(
    commitment_id: str, body: SelfAssessmentBody, principal: Writer, commitments: CommitmentsDep
) -> CommitmentView:
    doc = await commitments.self_assess(
        principal, commitment_id, body.scores.model_dump(), body.text
    )
    return full_view(doc)


@router.post(
    "/{commitment_id}/evaluation",
    status_code=201,
    summary="The organisation's evaluation (比), which may nominate for an honour",
)
async def evaluate(
    commitment_id: str, body: EvaluationBody, principal: Writer, commitments: CommitmentsDep
) -> CommitmentView:
    evaluation = Evaluation(
        scores=body.scores.model_dump(),
        grade=body.grade,
        comment=body.comment,
        nominate=body.nominate,
        nominate_period=body.nominate_period,
    )
    return full_view(await commitments.evaluate(principal, commitment_id, evaluation))
