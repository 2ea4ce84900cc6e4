"""The typed case the use cases work with, read from one stored document.

A case is one document (see ``store.cases``) whose shape grows with its life: clocks come and
go, histories and records pile up. The use cases read its fields here; ``doc`` stays the
stored document, which the pure clock rules and the HTTP views take whole. Reading is lenient
(defaults for missing fields): the scan must be able to skip an odd case, not lose the round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Document = dict[str, Any]


@dataclass(frozen=True)
class Case:
    doc: Document = field(repr=False)
    id: str
    version: int
    status: str
    kind: str
    category: str
    driver_id: str
    station_id: str | None
    emergency: bool
    opened_at: datetime
    round: int
    clocks: dict[str, Document]
    clock_years: list[int]
    # Who a complaint is about; empty when nobody is named.
    respondent: Document
    identity_consent: bool
    # Who has it.
    unit_id: str | None
    lead_unit_id: str | None
    unit_ids: list[str]
    offered_unit_ids: list[str]
    returns: int
    needs_supervisor: bool
    final_assignment: bool
    handler_sub: str | None
    # The moments of its life that later transitions check windows against.
    assigned_at: datetime | None
    paused_at: datetime | None
    paused_seconds: float
    rejected_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    merged_at: datetime | None
    outcome: str | None
    resolved_by: str | None
    exemption_proposed_by: str | None
    merged_into: str | None
    previous_status: str | None
    collective_id: str | None
    # Records kept on it.
    extension_request: Document
    extensions: list[Document]
    compensations: list[Document]
    announced: list[str]

    @classmethod
    def of(cls, doc: Document) -> Case:
        get = doc.get
        return cls(
            doc=doc,
            id=doc["_id"],
            version=get("version", 0),
            status=get("status", ""),
            kind=get("kind", ""),
            category=get("category", ""),
            driver_id=get("driver_id", ""),
            station_id=get("station_id"),
            emergency=bool(get("emergency")),
            opened_at=doc["opened_at"],
            round=get("round", 1),
            clocks=get("clocks") or {},
            clock_years=list(get("clock_years", [])),
            respondent=get("respondent") or {},
            identity_consent=bool(get("identity_consent")),
            unit_id=get("unit_id"),
            lead_unit_id=get("lead_unit_id"),
            unit_ids=list(get("unit_ids", [])),
            offered_unit_ids=list(get("offered_unit_ids", [])),
            returns=get("returns", 0),
            needs_supervisor=bool(get("needs_supervisor")),
            final_assignment=bool(get("final_assignment")),
            handler_sub=get("handler_sub"),
            assigned_at=get("assigned_at"),
            paused_at=get("paused_at"),
            paused_seconds=get("paused_seconds", 0.0),
            rejected_at=get("rejected_at"),
            resolved_at=get("resolved_at"),
            closed_at=get("closed_at"),
            merged_at=get("merged_at"),
            outcome=get("outcome"),
            resolved_by=get("resolved_by"),
            exemption_proposed_by=get("exemption_proposed_by"),
            merged_into=get("merged_into"),
            previous_status=get("previous_status"),
            collective_id=get("collective_id"),
            extension_request=get("extension_request") or {},
            extensions=list(get("extensions", [])),
            compensations=list(get("compensations", [])),
            announced=list(get("announced", [])),
        )
