"""Preferences: a driver's channels per category, language, quiet hours and SMS number (kept
protected: keyed hash, ciphertext and mask).
"""

from __future__ import annotations

from typing import Any, Literal

from common.clock import Clock
from common.pii import PiiProtector, is_valid_phone, mask_phone, normalise_phone
from notify.domain import InvalidPreferences, Language, Preferences, QuietHours
from notify.records import PHONE_PURPOSE
from notify.store.drivers import DriverStore, preferences_of


class PreferenceBook:
    def __init__(self, drivers: DriverStore, *, pii: PiiProtector, clock: Clock) -> None:
        self._drivers = drivers
        self._pii = pii
        self._clock = clock

    async def preferences(self, driver_id: str) -> Preferences:
        doc = await self._drivers.get_preferences(driver_id)
        return preferences_of(doc) if doc else Preferences(driver_id=driver_id)

    async def set_preferences(
        self,
        driver_id: str,
        *,
        language: Language | None,
        channels: dict[str, list[Literal["inbox", "sms"]]],
        quiet_hours: QuietHours | None,
        sms_phone: str | None,
        clear_sms_phone: bool,
    ) -> Preferences:
        fields: dict[str, Any] = {
            "language": language,
            "channels": channels,
            "quiet_hours": quiet_hours.model_dump(mode="json") if quiet_hours else None,
        }
        if clear_sms_phone:
            fields["sms_phone"] = None
        elif sms_phone is not None:
            phone = normalise_phone(sms_phone)
            if not is_valid_phone(phone):
                raise InvalidPreferences("sms_phone is not a valid mainland mobile number")
            fields["sms_phone"] = self._pii.protect(
                PHONE_PURPOSE, phone, mask_phone(phone)
            ).model_dump()
        doc = await self._drivers.save_preferences(driver_id, fields, self._clock())
        return preferences_of(doc)
