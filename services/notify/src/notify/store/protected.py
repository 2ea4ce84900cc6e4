"""Where notify keeps values under the PII keys: what the key rotation job rewrites."""

from __future__ import annotations

from common.key_rotation import RotatedCollection, StoredValue
from notify.records import PHONE_PURPOSE, SIGNING_KEY_PURPOSE
from notify.store.drivers import PREFERENCES
from notify.store.webhooks import WEBHOOKS

ROTATED = (
    RotatedCollection(PREFERENCES, (StoredValue("sms_phone", PHONE_PURPOSE),)),
    RotatedCollection(WEBHOOKS, (StoredValue("secret_enc", SIGNING_KEY_PURPOSE, kind="cipher"),)),
)
