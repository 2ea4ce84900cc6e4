"""Each service's contract is its wiring: the AsyncAPI documents checked in under docs/ say
exactly what the app's consumers subscribe, and that each service publishes its own topic's
catalogue — read from the documents and from the wiring, not from the contract modules."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from common.contracts import wired_consumption
from common.events import DOMAIN_EVENTS, PARTNER_EVENTS
from common.partners import PARTNER_TOPIC
from tests.service_apps import SETTINGS, settings_class

ROOT = Path(__file__).resolve().parents[2]


def _documented(service: str, action: str) -> dict[str, set[str]]:
    """Per channel address, the event types the document's operations of ``action`` carry."""
    document: dict[str, Any] = json.loads((ROOT / f"docs/asyncapi/{service}.json").read_text())
    out: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        channel_id = operation["channel"]["$ref"].removeprefix("#/channels/")
        address = document["channels"][channel_id]["address"]
        if operation["action"] != action or address.endswith(".dlq"):
            continue
        types = {m["$ref"].rsplit("/", 1)[1] for m in operation["messages"]}
        out.setdefault(address, set()).update(types)
    return out


def _wired(service: str) -> dict[str, set[str]]:
    app = importlib.import_module(f"{service}.app")
    settings = settings_class(service)
    return {t: set(types) for t, types in wired_consumption(app.create_app(settings())).items()}


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_the_asyncapi_document_receives_what_the_app_subscribes(service: str) -> None:
    assert _documented(service, "receive") == _wired(service)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_the_asyncapi_document_sends_its_own_topics_catalogue(service: str) -> None:
    own = "partners.events" if service == "partners" else f"{service}.events"
    expected = {own: set(DOMAIN_EVENTS[own])}
    if service == "partners":  # the HTTP ingest writes partner topics on the partners' behalf
        expected[PARTNER_TOPIC] = set(PARTNER_EVENTS)
    assert _documented(service, "send") == expected


def test_a_handler_wired_for_a_type_shows_in_the_contract() -> None:
    # The points consumer handles driver.registered.v1 on registry.events (opening accounts):
    # the contract has it because the wiring registers it, with no list kept beside it.
    from points.contract import contract

    assert "driver.registered.v1" in contract().consumes["registry.events"]
    assert "points.event_parked.v1" in contract().publishes["points.events"]
