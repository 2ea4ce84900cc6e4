"""The six services with a store and a bus, by package name, and how to reach their settings
class: for tests that look at every app's wiring or every API."""

from __future__ import annotations

from importlib import import_module

from common.settings import ServiceSettings

SETTINGS = {
    "registry": "RegistrySettings",
    "points": "PointsSettings",
    "stations": "StationsSettings",
    "notify": "NotifySettings",
    "cases": "CasesSettings",
    "partners": "PartnersSettings",
}


def settings_class(service: str) -> type[ServiceSettings]:
    found: type[ServiceSettings] = getattr(import_module(f"{service}.settings"), SETTINGS[service])
    return found
