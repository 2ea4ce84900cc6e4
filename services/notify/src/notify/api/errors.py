"""Notify domain errors as problem+json, whichever route they surface from: a missing thing is
a 404 naming its kind; invalid input is a 422 naming the field, like FastAPI's own validation
errors; a suspended partner's webhook calls are a 403 ``partner_suspended``."""

from __future__ import annotations

from common.domain_errors import ErrorTable, StatusTable
from notify.domain import Conflict, NotFound, NotifyError, PartnerSuspended, Unprocessable

STATUSES: StatusTable = {NotFound: 404, Conflict: 409, Unprocessable: 422, PartnerSuspended: 403}

ERRORS = ErrorTable(NotifyError, STATUSES, default=422)
