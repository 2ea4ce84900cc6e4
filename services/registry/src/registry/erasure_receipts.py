"""A driver's erasure receipt: which services confirmed that they forgot the driver.

The registry erases its own records at once (``lifecycle.erase``) and announces it; every
other service answers with its own ``<service>.erasure_completed.v1``. The receipt lists the
answers against the services that owe one, so an operator sees when the erasure is complete
and which service has not answered yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from common.events.erasure import ErasureCompleted
from common.logging import get_logger
from registry.domain import Conflict, DriverNotFound
from registry.store.drivers import DriverStore
from registry.store.erasure_receipts import ErasureReceiptStore

log = get_logger(__name__)

# Every service that keeps anything about drivers answers an erasure.
ANSWERING_SERVICES = ("points", "stations", "notify", "cases", "partners")


class Confirmation(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str
    completed_at: datetime
    erased: dict[str, int] = Field(description="Records deleted or pseudonymised, per class")
    kept: list[str] = Field(description="What stays, in pseudonymous form")


class ErasureReceipt(BaseModel):
    model_config = ConfigDict(frozen=True)

    driver_id: str
    erased_at: datetime | None
    confirmations: list[Confirmation]
    waiting_for: list[str] = Field(description="Services that have not confirmed yet")
    complete: bool


class ErasureReceipts:
    def __init__(
        self,
        drivers: DriverStore,
        store: ErasureReceiptStore,
        services: Sequence[str] = ANSWERING_SERVICES,
    ) -> None:
        self._drivers = drivers
        self._store = store
        self._services = tuple(services)

    async def confirmed(self, data: ErasureCompleted) -> None:
        confirmation = Confirmation(
            service=data.service,
            completed_at=data.completed_at,
            erased=data.erased,
            kept=data.kept,
        )
        if await self._store.confirm(data.driver_id, data.service, confirmation.model_dump()):
            log.info("erasure confirmed", service=data.service)

    async def receipt(self, driver_id: str) -> ErasureReceipt:
        driver = await self._drivers.by_id(driver_id)
        if driver is None:
            raise DriverNotFound(driver_id)
        if not driver.erased:
            raise Conflict("this driver was not erased", code="not-erased")
        doc = await self._store.get(driver_id) or {}
        confirmations = [
            Confirmation.model_validate(doc["confirmations"][name])
            for name in sorted(doc.get("confirmations", {}))
        ]
        confirmed = {c.service for c in confirmations}
        waiting = [name for name in self._services if name not in confirmed]
        return ErasureReceipt(
            driver_id=driver_id,
            erased_at=driver.erased_at,
            confirmations=confirmations,
            waiting_for=waiting,
            complete=not waiting,
        )
