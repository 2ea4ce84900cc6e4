"""Care over HTTP: a driver's care broker, the driver's dossier, a broker's workload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cases.api.dependencies import Caller, CasesDep, Operator, view
from cases.api.schemas import BrokerRequest, DossierView

router = APIRouter(prefix="/v1")


@router.put(
    "/dossiers/{driver_id}/broker",
    tags=["care"],
    summary="Name a driver's care broker (supervisor)",
)
async def assign_broker(
    driver_id: str, body: BrokerRequest, principal: Operator, service: CasesDep
) -> dict[str, Any]:
    broker_id = await service.dossiers.assign_broker(principal, driver_id, body.broker_id)
    return {"driver_id": driver_id, "broker_id": broker_id}


@router.get(
    "/dossiers/{driver_id}",
    response_model=DossierView,
    tags=["care"],
    summary="One file per driver: the care broker and the driver's cases over time",
)
async def get_dossier(driver_id: str, principal: Caller, service: CasesDep) -> DossierView:
    dossier = await service.dossiers.dossier(principal, driver_id)
    return DossierView(
        driver_id=driver_id,
        broker_id=dossier.broker_id,
        brokers=dossier.brokers,
        cases=[view(principal, c) for c in dossier.cases],
    )


@router.get(
    "/brokers/{broker_id}/workload",
    tags=["care"],
    summary="A care broker's workload (the broker, case oversight, district staff)",
)
async def workload(broker_id: str, principal: Operator, service: CasesDep) -> dict[str, Any]:
    load = await service.dossiers.workload(principal, broker_id)
    return {"broker_id": load.broker_id, "drivers": load.drivers, "open_cases": load.open_cases}
