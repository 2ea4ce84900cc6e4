"""What notify forgets when the registry erases a driver (``common.erasure``).

Everything: the inbox and every delivery (their rendered texts, SMS and webhook attempts),
the driver's facts for segments, preferences and rate-limit counters. Broadcasts keep only
their totals.
"""

from __future__ import annotations

import re

from common.erasure import Forget, by
from notify.store.broadcasts import BROADCASTS
from notify.store.drivers import DRIVERS, PREFERENCES
from notify.store.notifications import NOTIFICATIONS
from notify.store.rate_limits import RATE_LIMITS

KEPT: tuple[str, ...] = ()

STEPS = (
    Forget("inbox and deliveries", NOTIFICATIONS, by("driver_id")),
    Forget("driver facts for segments", DRIVERS, by("_id")),
    Forget("preferences", PREFERENCES, by("_id")),
    # A broadcast past resolving no longer needs the last driver id of its last page (its
    # resolution drops it too; this reaches broadcasts resolved before it did).
    Forget(
        "broadcast cursors",
        BROADCASTS,
        lambda d: {"resolve_after": d, "status": {"$nin": ["scheduled", "resolving"]}},
        lambda _, __: {"$unset": {"resolve_after": ""}},
    ),
    # A counter's id starts with the driver id (driver, category, window).
    Forget(
        "rate-limit counters", RATE_LIMITS, lambda d: {"_id": {"$regex": f"^{re.escape(d)}\\|"}}
    ),
)
