"""How long stations keeps personal data (docs/security.md, "Retention"); ``common.retention``
purges it. Overridable per class by the ``retention_days`` setting.

Visit history (check-ins) serves the visit itself, the points it earns and a dispute about
them: after ``visit_purpose`` days a check-in no longer names its driver unless the driver
gave the registry's ``location`` consent, and after ``visit history`` days it names nobody
whatever the consent. Anonymous check-ins keep the station figures (use per service, month).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.outbox import OUTBOX_UNSET
from common.retention import Expire, RetentionRule, days
from stations.rest import NUDGES
from stations.settings import StationsSettings
from stations.store.checkins import CHECKINS, WINDOWS
from stations.store.drivers import DRIVERS
from stations.store.feedback import FEEDBACK

Document = dict[str, Any]

ANONYMOUS = "anonymous"
VISIT_PURPOSE_DAYS = 30.0
VISIT_HISTORY_DAYS = 365.0
FEEDBACK_COMMENT_DAYS = 365.0
WINDOW_DAYS = 30.0
NUDGE_DAYS = 30.0
# Set on a check-in whose driver had the location consent when the purge looked; a withdrawal
# takes it off again (stations.consents).
CONSENTED = "location_consented"
ANONYMISE: Document = {
    "$set": {"driver_id": ANONYMOUS},
    "$unset": {"kiosk_id": "", "fingerprint": "", **OUTBOX_UNSET, CONSENTED: ""},
}


@dataclass(frozen=True)
class VisitHistory:
    purpose: timedelta
    keep: timedelta
    data_class: str = "visit history"

    async def apply(self, db: AsyncDatabase[Document], now: datetime, batch_size: int) -> int:
        named = {"driver_id": {"$ne": ANONYMOUS}}
        total = await Expire(
            self.data_class, CHECKINS, "recorded_at", self.keep, where=named, strip=ANONYMISE
        ).apply(db, now, batch_size)
        beyond = {"recorded_at": {"$lt": now - self.purpose}, CONSENTED: {"$ne": True}, **named}
        while True:
            docs = await db[CHECKINS].find(beyond, {"driver_id": 1}).limit(batch_size).to_list()
            if not docs:
                return total
            consenting = await _consenting(db, {d["driver_id"] for d in docs})
            kept = [d["_id"] for d in docs if d["driver_id"] in consenting]
            gone = [d["_id"] for d in docs if d["driver_id"] not in consenting]
            if kept:
                await db[CHECKINS].update_many({"_id": {"$in": kept}}, {"$set": {CONSENTED: True}})
                # A withdrawal between the read above and this mark took the marks off before
                # it was set (stations.consents): read the consents again, and the visits of
                # the drivers who withdrew meanwhile lose their mark and their name now.
                lapsed = consenting - await _consenting(db, consenting)
                if lapsed:
                    changed = await db[CHECKINS].update_many(
                        {
                            "_id": {"$in": [d["_id"] for d in docs if d["driver_id"] in lapsed]},
                            "recorded_at": beyond["recorded_at"],
                            **named,
                        },
                        ANONYMISE,
                    )
                    total += changed.modified_count
            if gone:
                changed = await db[CHECKINS].update_many(
                    {"_id": {"$in": gone}, **beyond}, ANONYMISE
                )
                total += changed.modified_count
            if len(docs) < batch_size:
                return total


async def _consenting(db: AsyncDatabase[Document], drivers: set[str]) -> set[str]:
    """Those of the drivers who consent to location, as stations last heard."""
    query = {"_id": {"$in": sorted(drivers)}, "consents.location": True}
    return {d["_id"] async for d in db[DRIVERS].find(query, {"_id": 1})}


def retention_rules(settings: StationsSettings) -> list[RetentionRule]:
    chosen = settings.retention_days
    return [
        VisitHistory(
            purpose=days(chosen, "visit purpose", VISIT_PURPOSE_DAYS),
            keep=days(chosen, "visit history", VISIT_HISTORY_DAYS),
        ),
        Expire(
            "feedback comments",
            FEEDBACK,
            "created_at",
            days(chosen, "feedback comments", FEEDBACK_COMMENT_DAYS),
            where={"comment": {"$ne": None}},
            strip={"$set": {"comment": None}},
        ),
        # A rating's id is its check-in's: naming its driver longer than the check-in does
        # would name the driver of an anonymous visit.
        Expire(
            "feedback authors",
            FEEDBACK,
            "created_at",
            days(chosen, "feedback authors", VISIT_PURPOSE_DAYS),
            where={"driver_id": {"$ne": ANONYMOUS}},
            strip={"$set": {"driver_id": ANONYMOUS}},
        ),
        # The last counted use per driver, station and service: needed only while a use could
        # still fall in its window (kiosk uses are accepted up to 7 days back), and a visit
        # history of its own otherwise.
        Expire("check-in windows", WINDOWS, "last", days(chosen, "check-in windows", WINDOW_DAYS)),
        # Where a driver was sent to rest, a drive at a time: the nudge has long been taken or
        # let go.
        Expire("rest nudges", NUDGES, "nudged_at", days(chosen, "rest nudges", NUDGE_DAYS)),
    ]
