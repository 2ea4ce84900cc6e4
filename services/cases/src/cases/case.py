"""The typed view of a stored case that the use cases work with.

A case is one document (see ``store.cases``) whose shape grows with its life: clocks come and
go, histories and records pile up. The use cases read it through these typed fields; ``doc``
stays the stored document, which the pure clock rules and the HTTP views take whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

Document = dict[str, Any]


@dataclass(frozen=True)
class Case:
    doc: Document

    @property
    def id(self) -> str:
        return str(self.doc["_id"])

    @property
    def version(self) -> int:
        return int(self.doc["version"])

    @property
    def status(self) -> str:
        return str(self.doc["status"])

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def category(self) -> str:
        return str(self.doc["category"])

    @property
    def driver_id(self) -> str:
        return str(self.doc["driver_id"])

    @property
    def station_id(self) -> str | None:
        return self.doc.get("station_id")

    @property
    def emergency(self) -> bool:
        return bool(self.doc["emergency"])

    @property
    def opened_at(self) -> datetime:
        opened: datetime = self.doc["opened_at"]
        return opened

    @property
    def round(self) -> int:
        return int(self.doc.get("round", 1))

    @property
    def clocks(self) -> dict[str, Document]:
        clocks: dict[str, Document] = self.doc["clocks"]
        return clocks

    @property
    def clock_years(self) -> list[int]:
        return list(self.doc.get("clock_years", []))

    @property
    def respondent(self) -> Document:
        """Who a complaint is about; empty when nobody is named."""
        return self.doc.get("respondent") or {}

    @property
    def identity_consent(self) -> bool:
        return bool(self.doc.get("identity_consent"))

    # ---- who has it -------------------------------------------------------------------------

    @property
    def unit_id(self) -> str | None:
        return self.doc.get("unit_id")

    @property
    def lead_unit_id(self) -> str | None:
        return self.doc.get("lead_unit_id")

    @property
    def unit_ids(self) -> list[str]:
        return list(self.doc.get("unit_ids", []))

    @property
    def offered_unit_ids(self) -> list[str]:
        return list(self.doc.get("offered_unit_ids", []))

    @property
    def returns(self) -> int:
        return int(self.doc.get("returns", 0))

    @property
    def needs_supervisor(self) -> bool:
        return bool(self.doc.get("needs_supervisor"))

    @property
    def final_assignment(self) -> bool:
        return bool(self.doc.get("final_assignment"))

    @property
    def handler_sub(self) -> str | None:
        return self.doc.get("handler_sub")

    # ---- the moments of its life -------------------------------------------------------------

    def moment(self, name: str) -> datetime | None:
        """One of the ``<event>_at`` moments (``assigned_at``, ``paused_at``, ``closed_at`` ...)."""
        at: datetime | None = self.doc.get(name)
        return at

    @property
    def paused_seconds(self) -> float:
        return float(self.doc.get("paused_seconds", 0.0))

    @property
    def outcome(self) -> str | None:
        return self.doc.get("outcome")

    @property
    def resolved_by(self) -> str | None:
        return self.doc.get("resolved_by")

    @property
    def exemption_proposed_by(self) -> str | None:
        return self.doc.get("exemption_proposed_by")

    @property
    def merged_into(self) -> str | None:
        return self.doc.get("merged_into")

    @property
    def previous_status(self) -> str:
        return str(self.doc["previous_status"])

    @property
    def collective_id(self) -> str | None:
        return self.doc.get("collective_id")

    # ---- records kept on it ------------------------------------------------------------------

    @property
    def extension_request(self) -> Document:
        return self.doc.get("extension_request") or {}

    @property
    def extensions(self) -> list[Document]:
        return list(self.doc.get("extensions", []))

    @property
    def compensations(self) -> list[Document]:
        return list(self.doc.get("compensations", []))

    @property
    def announced(self) -> list[str]:
        return list(self.doc.get("announced", []))
