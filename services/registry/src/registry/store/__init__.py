"""The only modules that touch the registry's MongoDB collections, one per collection."""

from __future__ import annotations

from common.idempotency import ProcessedEvents
from common.mongo import Indexes
from common.requests import IDEMPOTENCY_KEYS, idempotency_indexes
from registry.store import (
    access_log,
    campaigns,
    consent_requests,
    drivers,
    fleets,
    grids,
    lookups,
    organisations,
    people,
    reviews,
    station_visits,
    vehicles,
)

PROCESSED = "processed_events"

ALL_INDEXES: list[Indexes] = [
    *drivers.INDEXES,
    *lookups.INDEXES,
    *vehicles.INDEXES,
    *fleets.INDEXES,
    *grids.INDEXES,
    *organisations.INDEXES,
    *people.INDEXES,
    *campaigns.INDEXES,
    *consent_requests.INDEXES,
    *reviews.INDEXES,
    *station_visits.INDEXES,
    *access_log.INDEXES,
    ProcessedEvents.indexes(PROCESSED),
    idempotency_indexes(),
]

__all__ = ["ALL_INDEXES", "IDEMPOTENCY_KEYS", "PROCESSED"]
