"""What points forgets when the registry erases a driver (``common.erasure``).

The ledger and the account's balance stay: they are pseudonymous (the driver id is a random
token, no personal value is in them) and the programme's books must add up. The account loses
its fleet and grid; everything else about the driver goes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from common.approvals import APPROVALS
from common.clock import Clock
from common.erasure import DriverErasure, Forget, by, driver_erasure, scrubbed
from common.events.points import PointsErasureCompleted
from points.store.accounts import ACCOUNTS
from points.store.parked import PARKED
from points.store.redemptions import CANCEL_NOTE, REDEMPTIONS
from points.store.review import HELD
from points.store.statements import STATEMENTS
from points.store.station_awards import STATION_AWARDS, renamed_events

if TYPE_CHECKING:
    from common.runtime import Runtime
    from points.service import PointsService

KEPT = ("ledger entries", "account balance and status")
_APPROVAL_TEXTS = frozenset({"reason", "summary", "note", "decision_note"})

STEPS = (
    Forget(
        "account grouping",
        ACCOUNTS,
        lambda d: {"_id": d, "$or": [{"fleet": {"$ne": None}}, {"grid": {"$ne": None}}]},
        lambda _, __: {"$set": {"fleet": None, "grid": None}},
    ),
    Forget("parked events", PARKED, by("driver_id")),
    Forget("events held for review", HELD, by("driver_id")),
    Forget("school-admission statements", STATEMENTS, by("driver_id")),
    # A station's monthly count of credited attendances keeps its events (redeliveries are
    # recognised by them) under the pseudonym.
    Forget(
        "stations' counted attendances",
        STATION_AWARDS,
        lambda d: {"events": {"$regex": f"^{re.escape(d)}\x1f"}},
        rewrite=renamed_events,
        guard="v",
    ),
    # The mall's stock figures keep the redemption; who redeemed it does not stay.
    Forget(
        "redemptions",
        REDEMPTIONS,
        by("driver_id"),
        lambda _, anon: {
            "$set": {"driver_id": anon},
            "$unset": {"code": "", "code_hash": "", CANCEL_NOTE: ""},
        },
    ),
    # Four-eyes requests about the driver (adjustments, reservations for them) keep who decided
    # what and when; the driver's id becomes the pseudonym and the free texts go.
    Forget(
        "four-eyes requests",
        APPROVALS,
        by("subject"),
        rewrite=lambda doc, driver_id, anon: scrubbed(doc, driver_id, anon, _APPROVAL_TEXTS),
        guard="state",
    ),
)


def points_erasure(runtime: Runtime, service: PointsService, clock: Clock) -> DriverErasure:
    """The erasure of points' runtime, also run again by the service for a driver erased while
    something about them was being stored (``PointsService.forget_if_erased``)."""
    erasure = driver_erasure(runtime, PointsErasureCompleted, STEPS, kept=KEPT, clock=clock)
    service.forget_erased = erasure.erase
    return erasure
