"""What the partner edge forgets when the registry erases a driver (``common.erasure``).

A partner's receipts and rejections stay (the partner may still ask what became of an event
it sent) with the driver's id replaced by a pseudonym; the links to the partners' references,
the grade read model and notices not yet delivered about the driver go.
"""

from __future__ import annotations

from typing import Any

from common.erasure import Forget, by, scrubbed
from partners.store.links import GRADES, LINKS
from partners.store.notices import NOTICES
from partners.store.receipts import RECEIPTS
from partners.store.rejections import REJECTIONS

KEPT = ("event receipts and rejections under a pseudonym",)


def _pseudonymous(doc: dict[str, Any], driver_id: str, anon: str) -> dict[str, Any]:
    record: dict[str, Any] = scrubbed(doc, driver_id, anon, frozenset())
    return record


STEPS = (
    Forget("links to partner references", LINKS, by("driver_id")),
    Forget("grade lookups", GRADES, by("_id")),
    Forget(
        "webhook notices",
        NOTICES,
        # Wherever a notice's body names the driver: a link, a rejection's subject, a parked or
        # applied event's driver (the receipt a parked-too-long notice carries).
        lambda d: {
            "$or": [
                {"body.driver_id": d},
                {"body.subject": d},
                {"body.rejection.subject": d},
                {"body.event.parked.driver_id": d},
                {"body.event.applied.driver_id": d},
            ]
        },
    ),
    Forget(
        "event receipts",
        RECEIPTS,
        # A receipt made from points' parked announcement (an event sent straight to Kafka)
        # names the driver only there.
        lambda d: {"$or": [{"subject": d}, {"applied.driver_id": d}, {"parked.driver_id": d}]},
        rewrite=_pseudonymous,
    ),
    Forget("rejections", REJECTIONS, by("subject"), rewrite=_pseudonymous),
)
