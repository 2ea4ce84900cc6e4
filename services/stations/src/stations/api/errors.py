"""Stations domain errors as problem+json, whichever route they surface from: the status says
what kind of refusal, the body's ``code`` which one."""

from __future__ import annotations

from common.domain_errors import ErrorTable, StatusTable
from stations.domain import (
    ActivityNotFound,
    CheckinNotFound,
    CommentRefused,
    NetworkPlacementInvalid,
    NotYourVisit,
    ServiceNotOffered,
    StationNotFound,
    StationsError,
    UnknownDriver,
)
from stations.lifecycle import (
    CatalogueVersionNotFound,
    CodeDropped,
    InvalidItem,
    LifecycleItemNotFound,
)

# Every other refusal conflicts with the current state: 409.
STATUSES: StatusTable = {
    StationNotFound: 404,
    CheckinNotFound: 404,
    ActivityNotFound: 404,
    NotYourVisit: 404,
    CommentRefused: 422,
    UnknownDriver: 422,
    ServiceNotOffered: 422,
    CatalogueVersionNotFound: 404,
    LifecycleItemNotFound: 404,
    CodeDropped: 422,
    InvalidItem: 422,
    NetworkPlacementInvalid: 422,
}

ERRORS = ErrorTable(StationsError, STATUSES, default=409)
