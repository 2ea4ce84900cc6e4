"""Registry domain errors as problem+json, whichever route they surface from."""

from __future__ import annotations

from common.domain_errors import ErrorTable, StatusTable
from registry.consent_requests import NotConfirmed
from registry.domain import Conflict, InvalidDriverData, NotFound, RegistryError

STATUSES: StatusTable = {
    InvalidDriverData: 422,
    NotFound: 404,
    Conflict: 409,
    NotConfirmed: 403,
}

ERRORS = ErrorTable(RegistryError, STATUSES, default=400)
