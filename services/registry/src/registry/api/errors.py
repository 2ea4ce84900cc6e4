"""Registry domain errors as problem+json, whichever route they surface from."""

from __future__ import annotations

from fastapi import FastAPI

from common.domain_errors import StatusTable, install_domain_errors
from registry.consent_requests import NotConfirmed
from registry.domain import Conflict, InvalidDriverData, NotFound, RegistryError

STATUSES: StatusTable = {
    InvalidDriverData: 422,
    NotFound: 404,
    Conflict: 409,
    NotConfirmed: 403,
}


def install_registry_errors(app: FastAPI) -> None:
    install_domain_errors(app, RegistryError, STATUSES, default=400)
