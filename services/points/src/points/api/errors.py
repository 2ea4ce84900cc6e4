"""Points domain errors as problem+json, whichever route they surface from.

Every other refusal conflicts with the account's or the redemption's state: 409.
"""

from __future__ import annotations

from common.domain_errors import ErrorTable, StatusTable
from points.domain import AccountNotFound, EntryNotFound, PartnerSuspended, PointsError
from points.holds import HoldNotFound
from points.ledger import LedgerContention
from points.redemptions import CodeLocked, KeyReused, NotAllowedHere, RedemptionNotFound, WrongCode
from points.rewards import RewardNotFound
from points.simulation import NotSimulable
from points.statements import FutureDate, StatementNotFound

STATUSES: StatusTable = {
    AccountNotFound: 404,
    EntryNotFound: 404,
    HoldNotFound: 404,
    RedemptionNotFound: 404,
    RewardNotFound: 404,
    StatementNotFound: 404,
    NotAllowedHere: 403,
    PartnerSuspended: 403,
    KeyReused: 422,
    NotSimulable: 422,
    WrongCode: 422,
    FutureDate: 422,
    CodeLocked: 423,
    LedgerContention: 503,
}

ERRORS = ErrorTable(PointsError, STATUSES, default=409)
