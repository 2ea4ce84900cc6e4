"""The checked-in contract documents say what the code says now.

Regenerate with `make schemas` (AsyncAPI and OpenAPI, docs/events.md, docs/routes.md and
docs/settings.md; one at a time: `python scripts/events_doc.py`, `scripts/routes_doc.py`,
`scripts/settings_doc.py`), then review the diff.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from common.asyncapi import PARTNER_TOPIC, ServiceContract, build_asyncapi

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"driverhome_scripts_{name}", ROOT / "scripts" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def asyncapi_script() -> ModuleType:
    return _load_script("asyncapi")


@pytest.fixture(scope="module")
def events_doc() -> ModuleType:
    return _load_script("events_doc")


@pytest.fixture(scope="module")
def routes_doc() -> ModuleType:
    return _load_script("routes_doc")


@pytest.fixture(scope="module")
def settings_doc() -> ModuleType:
    return _load_script("settings_doc")


def _stale(generated: dict[str, str], folder: str) -> list[str]:
    on_disk = {f"{folder}/{p.name}": p.read_text() for p in (DOCS / folder).glob("*.json")}
    names = set(generated) | set(on_disk)
    return sorted(n for n in names if generated.get(n) != on_disk.get(n))


def test_the_asyncapi_documents_are_what_the_generator_produces_now(
    asyncapi_script: ModuleType,
) -> None:
    stale = _stale(asyncapi_script.asyncapi_files(), "asyncapi")
    assert not stale, f"{stale} are stale: run `make schemas` and review the diff"


def test_the_openapi_documents_are_what_the_apps_produce_now(asyncapi_script: ModuleType) -> None:
    stale = _stale(asyncapi_script.openapi_files(), "openapi")
    assert not stale, f"{stale} are stale: run `make schemas` and review the diff"


def test_every_event_type_in_the_catalogue_has_a_section_in_events_md(
    events_doc: ModuleType,
) -> None:
    text = (DOCS / "events.md").read_text()
    missing = [
        f"{event_type} on {topic}"
        for topic, event_type, _model in events_doc.catalogue()
        if events_doc.section_heading(topic, event_type) not in text
    ]
    assert not missing, f"docs/events.md has no section for {missing}"


def test_the_generated_parts_of_events_md_are_current(events_doc: ModuleType) -> None:
    text = (DOCS / "events.md").read_text()
    assert events_doc.apply(text) == text, "run `python scripts/events_doc.py` and review the diff"


def test_routes_md_is_what_the_generator_produces_from_the_openapi_documents(
    routes_doc: ModuleType,
) -> None:
    text = (DOCS / "routes.md").read_text()
    assert routes_doc.render() == text, "run `python scripts/routes_doc.py` and review the diff"


def test_routes_md_lists_every_operation_of_every_openapi_document(routes_doc: ModuleType) -> None:
    text = (DOCS / "routes.md").read_text()
    for name, document in routes_doc.openapi_documents().items():
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for path, item in document["paths"].items():
            for method in item:
                if method in routes_doc.METHODS:
                    assert f"| {method.upper()} | `{path}` |" in section, f"{name}: {method} {path}"


def test_settings_md_is_what_the_generator_produces_from_the_settings_classes(
    settings_doc: ModuleType,
) -> None:
    text = (DOCS / "settings.md").read_text()
    assert settings_doc.render() == text, "run `python scripts/settings_doc.py` and review the diff"


def test_settings_md_names_every_setting_of_every_service(settings_doc: ModuleType) -> None:
    text = (DOCS / "settings.md").read_text()
    for cls in settings_doc.SERVICES.values():
        for name in cls.model_fields:
            assert f"`DRIVERHOME_{name.upper()}`" in text, f"{cls.__name__}.{name}"


def test_the_points_document_receives_driver_registered_on_registry_events() -> None:
    from points.contract import contract

    document = build_asyncapi(contract())
    receives = [
        op
        for op in document["operations"].values()
        if op["action"] == "receive" and op["channel"] == {"$ref": "#/channels/registry.events"}
    ]
    assert len(receives) == 1
    messages = [_resolve(document, m["$ref"]) for m in receives[0]["messages"]]
    names = [m["name"] for m in messages]
    assert "driver.registered.v1" in names
    registered = messages[names.index("driver.registered.v1")]
    assert registered["payload"]["properties"]["type"]["const"] == "driver.registered.v1"
    assert receives[0]["bindings"]["kafka"]["groupId"]["enum"] == ["points"]


def test_every_reference_in_every_asyncapi_document_resolves(asyncapi_script: ModuleType) -> None:
    for contract in asyncapi_script.CONTRACTS.values():
        document = build_asyncapi(contract)
        for ref in _refs(document):
            assert _resolve(document, ref) is not None, f"{contract.name}: {ref}"


def test_operations_only_name_messages_of_their_own_channel() -> None:
    contract = ServiceContract(
        name="everything",
        title="t",
        description="d",
        publishes={"points.events": ("points.awarded.v1",)},
        consumes={PARTNER_TOPIC: ("service.used.v1",), "registry.events": ("driver.updated.v1",)},
        group_id="g",
    )
    document = build_asyncapi(contract)
    for op_id, op in document["operations"].items():
        channel = op["channel"]["$ref"]
        assert all(m["$ref"].startswith(f"{channel}/messages/") for m in op["messages"]), op_id
    partner = document["channels"]["partner.partner_id.events"]
    assert partner["address"] == "partner.{partner_id}.events"
    assert set(partner["parameters"]) == {"partner_id"}
    dlq = _resolve(
        document, document["channels"]["registry.events.dlq"]["messages"]["dead-letter"]["$ref"]
    )
    assert "dlq-reason" in dlq["headers"]["required"]
    assert "send.partner.partner_id.events.dlq" in document["operations"]


def test_a_contract_naming_a_type_its_topic_does_not_carry_is_refused() -> None:
    contract = ServiceContract(
        name="x", title="t", description="d", publishes={"registry.events": ("points.awarded.v1",)}
    )
    with pytest.raises(ValueError, match="no such event types"):
        build_asyncapi(contract)


def test_a_contract_that_consumes_without_a_consumer_group_is_refused() -> None:
    contract = ServiceContract(
        name="x",
        title="t",
        description="d",
        consumes={"registry.events": ("driver.registered.v1",)},
    )
    with pytest.raises(ValueError, match="consumer group"):
        build_asyncapi(contract)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    """Follow a local JSON pointer, and any reference it lands on."""
    assert ref.startswith("#/")
    node: Any = document
    for part in ref[2:].split("/"):
        node = (
            node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        )
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return _resolve(document, node["$ref"])
    return node
