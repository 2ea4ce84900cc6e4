"""HTTP for the census's answers (issue 16): a driver's latest answers, a need turned into a
case with one call, a campaign's report per grid and organisation, and its feedback."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.census_schemas import CensusAnswersView, CensusReportView, NeedView
from registry.api.dependencies import CensusManager, DriversReader, RegistryDep, actor, visible
from registry.domain import NotFound

router = APIRouter(prefix="/v1", tags=["census"])


@router.get(
    "/drivers/{driver_id}/census-answers",
    response_model=CensusAnswersView,
    summary="A driver's latest census answers (political status only if they consented)",
)
async def census_answers(
    driver_id: str, principal: CensusManager, registry: RegistryDep
) -> CensusAnswersView:
    driver = await visible(registry, principal, driver_id)
    if driver.census_answers is None:
        raise NotFound("census answers")
    return CensusAnswersView.of(driver_id, driver.census_answers)


@router.post(
    "/drivers/{driver_id}/census-needs/{need_id}/case",
    response_model=NeedView,
    summary="Turn a need named in the census into a case (census.need_referred.v1; once)",
)
async def refer_need(
    driver_id: str, need_id: str, principal: CensusManager, registry: RegistryDep
) -> NeedView:
    await visible(registry, principal, driver_id)
    need = await registry.survey.refer_need(driver_id, need_id, actor(principal))
    return NeedView(**need.model_dump())


@router.get(
    "/census/campaigns/{campaign_id}/report",
    response_model=CensusReportView,
    summary="A campaign's answers summarised per grid and per organisation (counts only)",
)
async def campaign_report(
    campaign_id: str, principal: DriversReader, registry: RegistryDep
) -> CensusReportView:
    return CensusReportView.of(await registry.survey.report(campaign_id))


@router.post(
    "/census/campaigns/{campaign_id}/feedback",
    response_model=CensusReportView,
    summary="Feed the campaign's results back (census.results_fed_back.v1 with the report)",
)
async def feed_back(
    campaign_id: str, principal: CensusManager, registry: RegistryDep
) -> CensusReportView:
    return CensusReportView.of(await registry.survey.feed_back(campaign_id, actor(principal)))
