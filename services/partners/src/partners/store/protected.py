"""Where the partners service keeps values under the PII keys: what key rotation rewrites."""

from __future__ import annotations

from common.key_rotation import RotatedCollection, StoredValue
from partners.store.partners import PARTNERS

ROTATED = (
    RotatedCollection(
        PARTNERS, (StoredValue("webhook_secret_enc", "webhook_secret", kind="cipher"),)
    ),
)
