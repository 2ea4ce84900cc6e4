"""How long the registry keeps its audit of reveals (docs/security.md, "Retention");
``common.retention`` purges it. Overridable per class by the ``retention_days`` setting.

The driver record itself is kept while the driver is in the programme and erased on request
(lifecycle.erase); the reveal audit holds no personal value and is kept three years. A station's
visit by a driver lets the station's staff read the driver (station_access) for as long as the
visit is kept: the purpose of a visit (stations keep a check-in named for 30 days), not for good.
A review of a partner's disagreeing value goes 90 days after it was decided.
"""

from __future__ import annotations

from common.retention import Expire, RetentionRule, days
from registry.settings import RegistrySettings
from registry.store.access_log import PII_ACCESS
from registry.store.reviews import REVIEWS
from registry.store.station_visits import STATION_VISITS

PII_ACCESS_DAYS = 3 * 365.0
STATION_VISIT_DAYS = 30.0
RESOLVED_REVIEW_DAYS = 90.0


def retention_rules(settings: RegistrySettings) -> list[RetentionRule]:
    return [
        Expire(
            "pii access audit",
            PII_ACCESS,
            "at",
            days(settings.retention_days, "pii access audit", PII_ACCESS_DAYS),
        ),
        Expire(
            "station visits",
            STATION_VISITS,
            "last_at",
            days(settings.retention_days, "station visits", STATION_VISIT_DAYS),
        ),
        # A partner's value the register disagreed with (names, plates, the phone encrypted),
        # once decided: the decision is on the driver record, the proposal is kept a while for
        # a question about it. Open ones wait for their reviewer.
        Expire(
            "resolved reviews",
            REVIEWS,
            "resolved_at",
            days(settings.retention_days, "resolved reviews", RESOLVED_REVIEW_DAYS),
        ),
    ]
