"""How long notify keeps personal data (docs/security.md, "Retention"); ``common.retention``
purges it. Overridable per class by the ``retention_days`` setting."""

from __future__ import annotations

from common.retention import Expire, RetentionRule, days
from notify.settings import NotifySettings
from notify.store.notifications import NOTIFICATIONS

INBOX_DAYS = 180.0


def retention_rules(settings: NotifySettings) -> list[RetentionRule]:
    # The inbox and every delivery record (rendered texts, SMS and webhook attempts).
    return [
        Expire(
            "inbox",
            NOTIFICATIONS,
            "created_at",
            days(settings.retention_days, "inbox", INBOX_DAYS),
        )
    ]
