"""Handlers for ``registry.events``: parse, one use-case call, nothing else."""

from __future__ import annotations

from cases.store.cases import CaseStore
from cases.store.dossiers import DossierStore
from common.events import CloudEvent, EventData
from common.events.registry import DriverDeactivated, DriverRegistered


class RegistryHandlers:
    def __init__(self, dossiers: DossierStore, cases: CaseStore) -> None:
        self._dossiers = dossiers
        self._cases = cases

    async def on_driver_registered(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, DriverRegistered)
        await self._dossiers.open(data.driver_id, data.registered_at)

    async def on_driver_deactivated(self, event: CloudEvent, data: EventData) -> None:
        assert isinstance(data, DriverDeactivated)
        if data.erased:
            # Personal data goes; the cases stay as pseudonymous records for the figures.
            await self._cases.collection.update_many(
                {"driver_id": data.driver_id},
                {"$set": {"description": "", "attachments": [], "respondent": None}},
            )
