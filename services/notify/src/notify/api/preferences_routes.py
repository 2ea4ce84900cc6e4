"""HTTP for a driver's preferences: channels per category, language, quiet hours, SMS number."""

from __future__ import annotations

from fastapi import APIRouter

from notify.api.dependencies import Driver, Driverish, NotifyDep, own_driver
from notify.api.schemas import PreferencesRequest, PreferencesView

router = APIRouter(prefix="/v1", tags=["preferences"])


@router.get(
    "/drivers/{driver_id}/preferences",
    response_model=PreferencesView,
    summary="A driver's channels per category, language and quiet hours",
)
async def get_preferences(
    driver_id: str, principal: Driverish, notify: NotifyDep
) -> PreferencesView:
    own_driver(principal, driver_id)
    return PreferencesView.of(await notify.preferences.preferences(driver_id))


@router.put(
    "/drivers/{driver_id}/preferences",
    response_model=PreferencesView,
    summary="Set a driver's preferences (the driver only)",
)
async def put_preferences(
    driver_id: str,
    body: PreferencesRequest,
    principal: Driver,
    notify: NotifyDep,
) -> PreferencesView:
    own_driver(principal, driver_id)
    prefs = await notify.preferences.set_preferences(
        driver_id,
        language=body.language,
        channels={k: list(v) for k, v in body.channels.items()},
        quiet_hours=body.quiet_hours,
        sms_phone=body.sms_phone,
        clear_sms_phone=body.clear_sms_phone,
    )
    return PreferencesView.of(prefs)
