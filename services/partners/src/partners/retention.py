"""How long the partner edge keeps what partners sent about drivers (docs/security.md,
"Retention"); ``common.retention`` purges it. Overridable per class by ``retention_days``."""

from __future__ import annotations

from common.retention import Expire, RetentionRule, days
from partners.settings import PartnersSettings
from partners.store.notices import NOTICES
from partners.store.receipts import RECEIPTS
from partners.store.rejections import REJECTIONS

RECEIPT_DAYS = 90.0
NOTICE_DAYS = 30.0


def retention_rules(settings: PartnersSettings) -> list[RetentionRule]:
    chosen = settings.retention_days
    return [
        Expire(
            "event receipts", RECEIPTS, "received_at", days(chosen, "event receipts", RECEIPT_DAYS)
        ),
        Expire("rejections", REJECTIONS, "recorded_at", days(chosen, "rejections", RECEIPT_DAYS)),
        Expire(
            "webhook notices",
            NOTICES,
            "created_at",
            days(chosen, "webhook notices", NOTICE_DAYS),
            where={"state": {"$ne": "pending"}},
        ),
    ]
