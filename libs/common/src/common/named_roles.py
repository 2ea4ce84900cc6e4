"""The named operator roles and the scopes each grants (issue 14; docs/security.md lists them).

Pure data without imports of its own, so that ``common.auth`` can expand a token's ``roles``
claim into its principal's scopes and ``common.authz`` (the route checks) can build on
``common.auth``. Everyone else imports these names from ``common.authz``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

# One table: a named role is a set of scopes, never a rule of its own elsewhere.
NAMED_ROLES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "registry_clerk": frozenset(
            {"drivers:read", "drivers:write", "census:manage", "orgs:manage"}
        ),
        "points_admin": frozenset(
            {
                "points:read",
                "points:adjust",
                "points:approve",
                "rules:manage",
                "mall:manage",
                "holds:decide",
            }
        ),
        "notify_editor": frozenset(
            {"notify:send", "notify:broadcast", "notify:urgent", "templates:manage"}
        ),
        "station_admin": frozenset({"stations:manage", "activities:manage"}),
        # The case roles keep the scopes the cases service has always read (cases.domain.SCOPES).
        "case_dispatcher": frozenset({"cases:dispatch"}),
        "case_handler": frozenset({"cases:handle"}),
        "case_supervisor": frozenset({"cases:supervise"}),
        # Care staff also apply for drivers and review aid (issue 17); the grant needs a second
        # reviewer, another person, so one care officer never grants alone.
        "case_care": frozenset({"cases:care", "aid:review"}),
        "case_revisit": frozenset({"cases:revisit"}),
        "calendar_keeper": frozenset({"cases:calendar"}),
        "auditor": frozenset({"drivers:read", "points:read", "audit:read"}),
        "security_officer": frozenset(
            {"pii:read", "drivers:erase", "partners:manage", "keys:manage", "security:manage"}
        ),
        "operations": frozenset({"dlq:read", "dlq:replay"}),
        # The mutual-help board (issue 17): party members, villages and unit staff claim needs
        # (help:claim); the committee posts for drivers and reads the whole board (help:manage).
        "mutual_help": frozenset({"help:claim", "help:manage"}),
        # Honours (issue 17): the secretary nominates for organisations and announces rounds;
        # panel members cast one vote per round.
        "honours_secretary": frozenset({"honours:manage"}),
        "honours_panel": frozenset({"honours:vote"}),
        # Party-member life (issue 17): the party committee's staff manage meetings, member-point
        # rules and every branch (party:manage); a branch secretary (a token naming the registry
        # person appointed secretary) reads and runs only their own branch (party:branch).
        "party_admin": frozenset({"party:manage", "party:branch"}),
        "branch_secretary": frozenset({"party:branch"}),
    }
)

# "An operator with full roles": every named role, hence everything operators could do before
# issue 14. Development tokens and the tests' operator default to it.
FULL_OPERATOR_ROLES: tuple[str, ...] = tuple(NAMED_ROLES)

OPERATOR_SCOPES: frozenset[str] = frozenset().union(*NAMED_ROLES.values())


def scopes_of_roles(roles: Iterable[str]) -> frozenset[str]:
    """The scopes the named roles grant; an unknown name grants nothing."""
    return frozenset().union(*(NAMED_ROLES.get(name, frozenset()) for name in roles))
