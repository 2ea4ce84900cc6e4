"""Partners domain errors as problem+json, whichever route they surface from.

The errors themselves say what the answer carries besides the status (``partners.domain``):
refusals a partner's software acts on have a ``urn:driverhome:partners:<reason>`` type and a
``reason``; a used-up limit and an unprovisioned topic say when to retry (``Retry-After``).
"""

from __future__ import annotations

from common.domain_errors import ErrorTable, StatusTable
from partners.domain import (
    ConflictingDuplicate,
    EventRefused,
    KeyNotReplaceable,
    NotAPartnerType,
    NotFound,
    OverLimit,
    PartnerChanged,
    PartnerExists,
    PartnerNotFound,
    PartnerNotProvisioned,
    PartnersError,
    PartnerSuspended,
)

STATUSES: StatusTable = {
    ConflictingDuplicate: 409,
    EventRefused: 422,
    OverLimit: 429,
    PartnerSuspended: 403,
    PartnerNotProvisioned: 503,
    NotAPartnerType: 422,
    PartnerNotFound: 404,
    NotFound: 404,
    KeyNotReplaceable: 409,
    PartnerExists: 409,
    PartnerChanged: 409,
}

ERRORS = ErrorTable(PartnersError, STATUSES, default=400)
