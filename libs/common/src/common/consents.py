"""Following the registry's consents (issue 14): each service enforces the purposes it serves.

The registry announces a consent given or withdrawn as ``driver.updated.v1`` naming
``consents.<purpose>`` with the new answer in ``consents``. A service keeps the answers it
needs beside its own facts about the driver and asks them where the purpose applies:

* ``points``: earning is refused while withdrawn (points' earning handlers);
* ``notifications``: marketing broadcasts reach only drivers who gave it (notify);
* ``location``: no location-based segment and no visit history beyond its purpose without it
  (notify's ``near`` segment, stations' visit history retention);
* ``party_life``: a party member's meetings, learning time and member points are recorded
  only with it (cases, docs/party-life.md).

An answer the registry never announced counts as not given for marketing, location and
party life (opt-in) and as given for points (joining the programme is what earning is for; a
withdrawal pauses it). docs/security.md lists the rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from common.dispatch import EventHandler, typed
from common.events import CloudEvent
from common.events.registry import DriverUpdated

PURPOSES = ("points", "notifications", "location", "family_services", "party_life")

# (driver id, the purposes announced with their answers, when) -> the service's own record.
ConsentFollower = Callable[[str, dict[str, bool], datetime], Awaitable[None]]


def following_consents(
    handlers: dict[str, EventHandler], follow: ConsentFollower
) -> dict[str, EventHandler]:
    """A service's ``registry.events`` handlers, also following the consents announced."""
    current = handlers.get(DriverUpdated.event_type)

    async def on_driver_updated(event: CloudEvent, data: DriverUpdated) -> None:
        if current is not None:
            await current(event, data)
        if data.consents:
            await follow(data.driver_id, dict(data.consents), data.updated_at)

    return {**handlers, DriverUpdated.event_type: typed(DriverUpdated, on_driver_updated)}
