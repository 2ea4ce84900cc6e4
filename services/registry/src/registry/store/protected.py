"""Where the registry keeps values under the PII keys: what the key rotation job rewrites.

Children's names (a list inside ``family``) are not listed yet: they stay readable under a
retired key, which must therefore be kept until they are re-entered.
"""

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
        ),
    ),
    RotatedCollection(REVIEWS, (StoredValue("proposed_enc", "phone", kind="cipher"),)),
)
