"""Cases domain errors as problem+json, whichever route they surface from."""

from __future__ import annotations

from cases.domain import (
    CaseError,
    CaseNotFound,
    InvalidRequest,
    NotPermitted,
    StaleCase,
    TransitionNotAllowed,
)
from common.domain_errors import ErrorTable, StatusTable

STATUSES: StatusTable = {
    CaseNotFound: 404,
    NotPermitted: 403,
    TransitionNotAllowed: 409,
    StaleCase: 409,
    InvalidRequest: 422,
}

ERRORS = ErrorTable(CaseError, STATUSES, default=422)
