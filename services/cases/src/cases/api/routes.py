from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from cases import domain
from cases.api.schemas import (
    ActionRequest,
    BrokerRequest,
    CasePage,
    CaseView,
    CollectiveRequest,
    CollectiveView,
    CompensationRequest,
    ConsentRequest,
    DossierView,
    ExtensionDecision,
    ExtensionRequest,
    OpenCaseRequest,
    OpenedView,
)
from cases.service import ActionParams, CasesService, Intake
from common.auth import Principal, current_principal, require_roles
from common.pagination import PageParams, encode_cursor
from common.problems import Problem
from common.requests import IdempotentRequests

router = APIRouter(prefix="/v1")

Caller = Annotated[Principal, Depends(current_principal)]
Operator = Annotated[Principal, Depends(require_roles("operator"))]


def _service(request: Request) -> CasesService:
    service: CasesService = request.app.state.service
    return service


Service = Annotated[CasesService, Depends(_service)]


def _view(principal: Principal, case: dict[str, Any]) -> CaseView:
    return CaseView.of(case, for_respondent=principal.role == "partner")


@router.get("/categories", tags=["cases"], summary="The category taxonomy and closed lists")
async def categories(principal: Caller) -> dict[str, Any]:
    return {
        "categories": domain.CATEGORIES,
        "kinds": domain.KINDS,
        "attachment_types": sorted(domain.ATTACHMENT_TYPES),
        "reasons": {
            "reject": domain.REJECT_REASONS,
            "return": domain.RETURN_REASONS,
            "suspend": domain.SUSPEND_REASONS,
            "extension": domain.EXTENSION_REASONS,
        },
        "outcomes": domain.OUTCOMES,
        "transitions": {
            name: {
                "from": sorted(t.sources),
                "to": t.target or "(depends on the case)",
                "by": sorted(t.actors),
            }
            for name, t in domain.TRANSITIONS.items()
        },
    }


@router.post(
    "/cases",
    status_code=201,
    response_model=OpenedView,
    tags=["cases"],
    summary="Open a case (drivers for themselves, stations, dispatchers, care brokers)",
)
async def open_case(
    body: OpenCaseRequest,
    request: Request,
    principal: Caller,
    service: Service,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    async def action() -> tuple[int, Any]:
        intake = Intake(
            kind=body.kind,
            category=body.category,
            channel=body.channel,
            description=body.description,
            driver_id=body.driver_id,
            priority=body.priority,
            emergency=body.emergency,
            attachments=[a.model_dump() for a in body.attachments],
            respondent=body.respondent.model_dump() if body.respondent else None,
            identity_consent=body.identity_consent,
        )
        case, duplicates = await service.open_case(principal, intake)
        view = OpenedView(case=_view(principal, case), duplicate_candidates=duplicates)
        return 201, view.model_dump(mode="json")

    keys: IdempotentRequests = request.app.state.idempotency
    status, answer = await keys.run(
        caller=principal.sub, key=idempotency_key, body=body.model_dump(mode="json"), action=action
    )
    return JSONResponse(answer, status_code=status)


@router.get("/cases", response_model=CasePage, tags=["cases"], summary="Cases the caller may see")
async def list_cases(
    principal: Caller,
    service: Service,
    page: Annotated[PageParams, Depends()],
    status: Annotated[str | None, Query(max_length=30)] = None,
    driver_id: Annotated[str | None, Query(max_length=100)] = None,
) -> CasePage:
    query = service.list_query(principal)
    if status:
        query = {**query, "status": status}
    if driver_id:
        query = {**query, "driver_id": driver_id}
    after = None
    if page.after:
        try:
            after = (datetime.fromisoformat(page.after["at"]), str(page.after["id"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise Problem(400, "Bad Request", "the cursor is not valid") from exc
    docs = await service.cases.find(query, limit=page.limit, after=after)
    visible = [d for d in docs if await service.may_see(principal, d)]
    cursor = None
    if len(docs) == page.limit:
        cursor = encode_cursor({"at": docs[-1]["opened_at"].isoformat(), "id": docs[-1]["_id"]})
    return CasePage(items=[_view(principal, d) for d in visible], next_cursor=cursor)


@router.get("/cases/{case_id}", response_model=CaseView, tags=["cases"], summary="One case")
async def get_case(case_id: str, principal: Caller, service: Service) -> CaseView:
    return _view(principal, await service.get(principal, case_id))


@router.post(
    "/cases/{case_id}/transitions/{action}",
    response_model=CaseView,
    tags=["cases"],
    summary="Make a transition of the state table (GET /v1/categories lists them)",
)
async def act(
    case_id: str,
    action: Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")],
    body: ActionRequest,
    principal: Caller,
    service: Service,
) -> CaseView:
    params = ActionParams(**body.model_dump())
    return _view(principal, await service.act(principal, case_id, action, params))


@router.post(
    "/cases/{case_id}/extension",
    response_model=CaseView,
    tags=["clocks"],
    summary="Ask for the round's one extension (handler, before the deadline)",
)
async def request_extension(
    case_id: str, body: ExtensionRequest, principal: Operator, service: Service
) -> CaseView:
    case = await service.request_extension(
        principal, case_id, body.working_days, body.reason_code, body.note
    )
    return _view(principal, case)


@router.post(
    "/cases/{case_id}/extension/decision",
    response_model=CaseView,
    tags=["clocks"],
    summary="Approve or refuse the extension (supervisor, before the deadline)",
)
async def decide_extension(
    case_id: str, body: ExtensionDecision, principal: Operator, service: Service
) -> CaseView:
    return _view(principal, await service.decide_extension(principal, case_id, body.approve))


@router.put(
    "/cases/{case_id}/consent",
    response_model=CaseView,
    tags=["cases"],
    summary="The driver lets the respondent see who complains (or withdraws that)",
)
async def consent(
    case_id: str, body: ConsentRequest, principal: Caller, service: Service
) -> CaseView:
    return _view(principal, await service.set_consent(principal, case_id, body.reveal_identity))


@router.post(
    "/cases/{case_id}/compensation",
    response_model=CaseView,
    tags=["cases"],
    summary="Approve restoration or goodwill points for an upheld programme complaint",
)
async def compensate(
    case_id: str, body: CompensationRequest, principal: Operator, service: Service
) -> CaseView:
    case = await service.grant_compensation(principal, case_id, body.kind, body.amount)
    return _view(principal, case)


def _collective(principal: Principal, group: dict[str, Any]) -> CollectiveView:
    return CollectiveView(
        **{k: v for k, v in group.items() if k != "cases"},
        cases=[_view(principal, c) for c in group["cases"]],
    )


@router.post(
    "/collectives",
    response_model=CollectiveView,
    tags=["cases"],
    summary="Link complaints about one respondent into a collective (never merges them)",
)
async def link_collective(
    body: CollectiveRequest, principal: Operator, service: Service
) -> CollectiveView:
    return _collective(principal, await service.link_collective(principal, body.case_ids))


@router.get(
    "/collectives/{collective_id}",
    response_model=CollectiveView,
    tags=["cases"],
    summary="A collective: the linked complaints, each still its own case",
)
async def get_collective(
    collective_id: str, principal: Operator, service: Service
) -> CollectiveView:
    return _collective(principal, await service.collective(principal, collective_id))


@router.delete(
    "/collectives/{collective_id}/cases/{case_id}",
    response_model=CollectiveView,
    tags=["cases"],
    summary="Take a case out of a collective",
)
async def unlink_collective(
    collective_id: str, case_id: str, principal: Operator, service: Service
) -> CollectiveView:
    group = await service.unlink_collective(principal, collective_id, case_id)
    return _collective(principal, group)


@router.put(
    "/dossiers/{driver_id}/broker",
    tags=["care"],
    summary="Name a driver's care broker (supervisor)",
)
async def assign_broker(
    driver_id: str, body: BrokerRequest, principal: Operator, service: Service
) -> dict[str, Any]:
    dossier = await service.assign_broker(principal, driver_id, body.broker_id)
    return {"driver_id": driver_id, "broker_id": dossier["broker_id"]}


@router.get(
    "/dossiers/{driver_id}",
    response_model=DossierView,
    tags=["care"],
    summary="One file per driver: the care broker and the driver's cases over time",
)
async def get_dossier(driver_id: str, principal: Caller, service: Service) -> DossierView:
    dossier, cases = await service.dossier(principal, driver_id)
    return DossierView(
        driver_id=driver_id,
        broker_id=dossier.get("broker_id"),
        brokers=dossier.get("brokers", []),
        cases=[_view(principal, c) for c in cases],
    )


@router.get("/brokers/{broker_id}/workload", tags=["care"], summary="A care broker's workload")
async def workload(broker_id: str, principal: Operator, service: Service) -> dict[str, Any]:
    return await service.workload(broker_id)


@router.get(
    "/figures",
    tags=["figures"],
    summary="Published figures, each with numerator, denominator and cohort rule",
)
async def figures(
    principal: Operator,
    service: Service,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    unit_id: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    group_by: Literal["unit", "category", "month"] | None = None,
) -> dict[str, Any]:
    rows = await service.figures(month=month, unit_id=unit_id, category=category, group_by=group_by)
    return {"month": month, "unit_id": unit_id, "category": category, "rows": rows}
