"""Where the registry keeps values under the PII keys: what the key rotation job rewrites."""

from __future__ import annotations

from common.key_rotation import RotatedCollection, StoredValue
from registry.store.drivers import DRIVERS
from registry.store.reviews import REVIEWS

ROTATED = (
    RotatedCollection(
        DRIVERS,
        (
            StoredValue("national_id", "national_id", partners=True),
            StoredValue("phone", "phone"),
            StoredValue("family.spouse_name", "family", kind="sealed"),
            StoredValue("family.children", "family", kind="sealed", item="name"),
        ),
    ),
    RotatedCollection(REVIEWS, (StoredValue("proposed_enc", "phone", kind="cipher"),)),
)
