"""Cases domain errors as problem+json, whichever route they surface from."""

from __future__ import annotations

from fastapi import FastAPI

from cases.domain import (
    CaseError,
    CaseNotFound,
    InvalidRequest,
    NotPermitted,
    StaleCase,
    TransitionNotAllowed,
)
from common.domain_errors import StatusTable, install_domain_errors

STATUSES: StatusTable = {
    CaseNotFound: 404,
    NotPermitted: 403,
    TransitionNotAllowed: 409,
    StaleCase: 409,
    InvalidRequest: 422,
}


def install_case_errors(app: FastAPI) -> None:
    install_domain_errors(app, CaseError, STATUSES, default=422)
