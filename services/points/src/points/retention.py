"""How long points keeps what is not its books (docs/security.md, "Retention");
``common.retention`` purges it. Overridable per class by the ``retention_days`` setting.

The ledger and the accounts are the programme's accounting and stay. A statement for a school
admission is signed and checked offline, so the copy kept here serves only the driver asking
for it again within an admission year. A station's monthly count of credited attendances is
needed while its month lasts. A cancellation's free-text note goes after a year.
"""

from __future__ import annotations

from common.retention import Expire, RetentionRule, days
from points.settings import PointsSettings
from points.store.redemptions import CANCEL_NOTE, REDEMPTIONS
from points.store.statements import STATEMENTS
from points.store.station_awards import MONTH_ENDS, STATION_AWARDS

STATEMENT_DAYS = 365.0
STATION_COUNT_DAYS = 30.0
CANCEL_NOTE_DAYS = 365.0


def retention_rules(settings: PointsSettings) -> list[RetentionRule]:
    chosen = settings.retention_days
    return [
        Expire(
            "school-admission statements",
            STATEMENTS,
            "created_at",
            days(chosen, "school-admission statements", STATEMENT_DAYS),
        ),
        # Counted from the month's end: the month's count is read until then.
        Expire(
            "station attendance counts",
            STATION_AWARDS,
            MONTH_ENDS,
            days(chosen, "station attendance counts", STATION_COUNT_DAYS),
        ),
        # What a cancellation's author wrote: the redemption stays with the books (its state,
        # reason code and who cancelled), the free text does not.
        Expire(
            "redemption cancel notes",
            REDEMPTIONS,
            "created_at",
            days(chosen, "redemption cancel notes", CANCEL_NOTE_DAYS),
            where={CANCEL_NOTE: {"$exists": True}},
            strip={"$unset": {CANCEL_NOTE: ""}},
        ),
    ]
