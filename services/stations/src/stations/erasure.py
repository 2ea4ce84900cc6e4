"""What stations forgets when the registry erases a driver (``common.erasure``).

Check-ins, attendances and ratings stay for the stations' figures (occupancy, use per service,
average rating) under a pseudonym, without the driver's words or a pending announcement; the
driver's facts, the dedupe windows keyed by their id and their activity registrations and
attendance marks go.
"""

from __future__ import annotations

import re

from common.erasure import Forget, by
from common.outbox import OUTBOX_UNSET
from stations.driving import DRIVING
from stations.rest import NUDGES
from stations.store.activities import ACTIVITIES, ATTENDANCES
from stations.store.checkins import CHECKINS, WINDOWS
from stations.store.drivers import DRIVERS
from stations.store.feedback import FEEDBACK

KEPT = ("check-ins, attendances and ratings under a pseudonym (station figures)",)

STEPS = (
    Forget("driver facts and last position", DRIVERS, by("_id")),
    # A window's id starts with the driver id (driver, station, service).
    Forget("check-in windows", WINDOWS, lambda d: {"_id": {"$regex": f"^{re.escape(d)}\x1f"}}),
    Forget(
        "visit history",
        CHECKINS,
        by("driver_id"),
        lambda _, anon: {
            "$set": {"driver_id": anon},
            "$unset": {**OUTBOX_UNSET, "fingerprint": ""},
        },
    ),
    Forget(
        "activity attendances",
        ATTENDANCES,
        by("driver_id"),
        lambda _, anon: {"$set": {"driver_id": anon}, "$unset": OUTBOX_UNSET},
    ),
    Forget(
        "activity registrations",
        ACTIVITIES,
        by("registrants"),
        # The seat stays taken: the activity's figures do not change after the fact.
        lambda d, _: {"$pull": {"registrants": d}},
    ),
    # The mark that refuses a cancellation after the driver attended: no cancellation comes
    # after an erasure, and the attendance itself stays under the pseudonym.
    Forget(
        "activity attendance marks",
        ACTIVITIES,
        by("attended"),
        lambda d, _: {"$pull": {"attended": d}},
    ),
    Forget("rest nudges", NUDGES, by("driver_id")),
    Forget("driving state (last announcement)", DRIVING, by("_id")),
    Forget(
        "ratings and comments",
        FEEDBACK,
        by("driver_id"),
        lambda _, anon: {"$set": {"driver_id": anon}, "$unset": {"comment": ""}},
    ),
)
