"""Registry use cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from common.events import new_event
from common.events.registry import DriverRegistered
from common.logging import get_logger
from common.outbox import OutboxRelay, outbox_entry
from common.pii import (
    PiiProtector,
    is_valid_national_id,
    is_valid_phone,
    mask_national_id,
    mask_phone,
    normalise_national_id,
    normalise_phone,
)
from registry.domain import (
    Driver,
    DriverNotFound,
    InvalidDriverData,
    RegistrationChannel,
    is_valid_plate,
    new_driver_id,
    normalise_plate,
)
from registry.store.drivers import DriverStore

log = get_logger(__name__)

EVENT_SOURCE = "driverhome/registry"
TOPIC = "registry.events"


@dataclass(frozen=True)
class Registration:
    name: str
    phone: str
    national_id: str
    plate: str
    fleet: str | None = None


class RegistryService:
    def __init__(self, store: DriverStore, pii: PiiProtector, relay: OutboxRelay | None) -> None:
        self._store = store
        self._pii = pii
        self._relay = relay

    async def register_driver(
        self, registration: Registration, channel: RegistrationChannel
    ) -> tuple[Driver, bool]:
        """Register a driver; the same national ID again returns the existing driver (False)."""
        national_id = normalise_national_id(registration.national_id)
        if not is_valid_national_id(national_id):
            raise InvalidDriverData("national_id", "not a valid 18-character resident ID number")
        phone = normalise_phone(registration.phone)
        if not is_valid_phone(phone):
            raise InvalidDriverData("phone", "not a valid mainland mobile number")
        plate = normalise_plate(registration.plate)
        if not is_valid_plate(plate):
            raise InvalidDriverData("plate", "not a valid Chinese vehicle plate")

        id_hash = self._pii.hash("national_id", national_id)
        existing = await self._store.by_national_id_hash(id_hash)
        if existing is not None:
            return existing, False

        now = datetime.now(UTC)
        driver = Driver(
            driver_id=new_driver_id(),
            name=registration.name,
            national_id=self._pii.protect(
                "national_id", national_id, mask_national_id(national_id)
            ),
            phone=self._pii.protect("phone", phone, mask_phone(phone)),
            plate=plate,
            fleet=registration.fleet,
            channel=channel,
            created_at=now,
            updated_at=now,
        )
        event = new_event(
            DriverRegistered(
                driver_id=driver.driver_id, channel=channel, registered_at=now, fleet=driver.fleet
            ),
            source=EVENT_SOURCE,
            subject=driver.driver_id,
        )
        if not await self._store.insert_new(driver, [outbox_entry(TOPIC, event)]):
            # Lost a race with a concurrent registration of the same person.
            winner = await self._store.by_national_id_hash(id_hash)
            if winner is None:
                raise RuntimeError("duplicate national ID reported but no driver found")
            return winner, False
        await self._announce(driver.driver_id)
        return driver, True

    async def get_driver(self, driver_id: str) -> Driver:
        driver = await self._store.by_id(driver_id)
        if driver is None:
            raise DriverNotFound(driver_id)
        return driver

    async def _announce(self, driver_id: str) -> None:
        if self._relay is None:
            return
        try:
            await self._relay.flush(self._store.collection, driver_id)
        except Exception as exc:  # the state is stored; the sweeper publishes it later
            log.warning("announce deferred to outbox sweeper", error=type(exc).__name__)
