"""Who the signed-in person is and what the console may show them.

The services decide every request; the console only hides what the person's scopes would be
refused anyway, so a page never offers a button that answers 403. Named roles and their scopes
are common.authz's one table (``Principal.scopes`` expands them).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.auth import Principal

# The cases service's actors, by the scope that makes an operator one (its state table names
# actors; GET /v1/categories lists which actors may make each transition).
CASE_ACTORS: dict[str, str] = {
    "cases:dispatch": "dispatcher",
    "cases:handle": "handler",
    "cases:supervise": "supervisor",
    "cases:care": "care",
    "cases:revisit": "revisit",
}


@dataclass(frozen=True)
class Person:
    """The signed-in person as the console sees them (from the verified token)."""

    principal: Principal

    @property
    def sub(self) -> str:
        return self.principal.sub

    @property
    def roles(self) -> tuple[str, ...]:
        return self.principal.roles

    def may(self, scope: str) -> bool:
        return self.principal.role == "operator" and scope in self.principal.scopes

    def may_any(self, *scopes: str) -> bool:
        return any(self.may(scope) for scope in scopes)

    @property
    def station_id(self) -> str | None:
        """A station's staff (role ``station``) see their own station only."""
        if self.principal.role != "station":
            return None
        return self.principal.station_id

    @property
    def case_actors(self) -> frozenset[str]:
        return frozenset(actor for scope, actor in CASE_ACTORS.items() if self.may(scope))

    # What each part of the console needs (navigation and forms read these).
    @property
    def sees_drivers(self) -> bool:
        return self.may("drivers:read")

    @property
    def sees_points(self) -> bool:
        return self.may("points:read")

    @property
    def sees_cases(self) -> bool:
        return bool(self.case_actors)

    @property
    def sees_notify(self) -> bool:
        return self.may("notify:broadcast")

    @property
    def sees_stations(self) -> bool:
        return self.station_id is not None or self.may_any("stations:manage", "activities:manage")

    def sees_station(self, station_id: str) -> bool:
        """Operators with a stations scope see every station; station staff only their own."""
        if self.principal.role == "station":
            return self.station_id == station_id
        return self.sees_stations

    @property
    def sees_partners(self) -> bool:
        return self.may("partners:manage")

    @property
    def sees_dlq(self) -> bool:
        return self.may("dlq:read")

    @property
    def sees_figures(self) -> bool:
        return self.may("cases:supervise")

    @property
    def sees_templates(self) -> bool:
        return self.may("templates:manage")

    @property
    def sees_audit(self) -> bool:
        return self.may("audit:read")
