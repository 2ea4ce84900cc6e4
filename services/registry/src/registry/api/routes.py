from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from common.auth import Principal, require_roles
from common.problems import Problem
from registry.api.schemas import DriverView, RegisterDriverRequest
from registry.domain import DriverNotFound, InvalidDriverData, RegistrationChannel
from registry.service import Registration, RegistryService

router = APIRouter(prefix="/v1", tags=["drivers"])

_CHANNEL_OF_ROLE: dict[str, RegistrationChannel] = {
    "operator": "operator",
    "station": "station",
    "partner": "partner",
    "driver": "self",
}


def _service(request: Request) -> RegistryService:
    service: RegistryService = request.app.state.service
    return service


@router.post(
    "/drivers",
    status_code=201,
    response_model=DriverView,
    summary="Register a driver (idempotent on the national ID)",
    responses={200: {"description": "Already registered: the existing driver"}},
)
async def register_driver(
    body: RegisterDriverRequest,
    response: Response,
    principal: Annotated[
        Principal, Depends(require_roles("operator", "station", "partner", "driver"))
    ],
    service: Annotated[RegistryService, Depends(_service)],
) -> DriverView:
    try:
        driver, created = await service.register_driver(
            Registration(**body.model_dump()), _CHANNEL_OF_ROLE[principal.role]
        )
    except InvalidDriverData as exc:
        raise Problem(
            422,
            "Unprocessable Content",
            exc.message,
            extra={"errors": [{"loc": ["body", exc.field], "msg": exc.message}]},
        ) from exc
    if not created:
        response.status_code = 200
    return DriverView.of(driver)


@router.get("/drivers/{driver_id}", response_model=DriverView, summary="A driver, PII masked")
async def get_driver(
    driver_id: str,
    principal: Annotated[Principal, Depends(require_roles("operator", "station", "driver"))],
    service: Annotated[RegistryService, Depends(_service)],
) -> DriverView:
    # Another driver's record is indistinguishable from a missing one.
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise Problem(404, "Not Found", "no such driver")
    try:
        return DriverView.of(await service.get_driver(driver_id))
    except DriverNotFound as exc:
        raise Problem(404, "Not Found", "no such driver") from exc
