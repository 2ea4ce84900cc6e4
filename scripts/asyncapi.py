"""Write docs/asyncapi/<service>.json and docs/openapi/<service>.json (``make schemas``).

AsyncAPI comes from each service's ``contract.py`` and the event catalogue (see
``common.asyncapi``); OpenAPI from each service's FastAPI app, built without starting it, so
nothing is connected. ``tests/unit/test_docs_current.py`` fails when the checked-in files differ
from what this produces.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

import cases.app
import cases.contract
import notify.app
import notify.contract
import partners.app
import partners.contract
import points.app
import points.contract
import registry.app
import registry.contract
import stations.app
import stations.contract
from cases.settings import CasesSettings
from common.asyncapi import ServiceContract, build_asyncapi
from notify.settings import NotifySettings
from partners.settings import PartnersSettings
from points.settings import PointsSettings
from registry.settings import RegistrySettings
from stations.settings import StationsSettings

DOCS = Path(__file__).resolve().parents[1] / "docs"

CONTRACTS: dict[str, ServiceContract] = {
    "registry": registry.contract.contract(),
    "points": points.contract.contract(),
    "stations": stations.contract.contract(),
    "notify": notify.contract.contract(),
    "cases": cases.contract.contract(),
    "partners": partners.contract.contract(),
}

APPS: dict[str, Callable[[], FastAPI]] = {
    "registry": lambda: registry.app.create_app(RegistrySettings()),
    "points": lambda: points.app.create_app(PointsSettings()),
    "stations": lambda: stations.app.create_app(StationsSettings()),
    "notify": lambda: notify.app.create_app(NotifySettings()),
    "cases": lambda: cases.app.create_app(CasesSettings()),
    "partners": lambda: partners.app.create_app(PartnersSettings()),
}


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def asyncapi_files() -> dict[str, str]:
    """``asyncapi/<service>.json`` (relative to docs/) -> content."""
    return {f"asyncapi/{name}.json": _json(build_asyncapi(c)) for name, c in CONTRACTS.items()}


def openapi_files() -> dict[str, str]:
    """``openapi/<service>.json`` (relative to docs/) -> content."""
    return {f"openapi/{name}.json": _json(make().openapi()) for name, make in APPS.items()}


def main() -> None:
    # The apps are built from default settings: development ones (an unset environment is
    # production, which needs keys a document generator never has).
    os.environ.setdefault("DRIVERHOME_ENVIRONMENT", "development")
    files = {**asyncapi_files(), **openapi_files()}
    for folder in ("asyncapi", "openapi"):
        (DOCS / folder).mkdir(parents=True, exist_ok=True)
        for stale in (DOCS / folder).glob("*.json"):
            if f"{folder}/{stale.name}" not in files:
                stale.unlink()
    for name, content in files.items():
        (DOCS / name).write_text(content)
    print(f"wrote {len(files)} documents to {DOCS}")


if __name__ == "__main__":
    main()
