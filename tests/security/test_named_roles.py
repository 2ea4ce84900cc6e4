"""One god role no more (issue 14): operators act by the scopes of their named roles
(common.authz), on the real broker and store, one points and one registry per module.

Before the fix every operator token could adjust points, change rules, register and erase
drivers; now an operator holds only what its roles grant, and roles grant nothing to others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from cases.app import create_app as cases_app
from cases.settings import CasesSettings
from common.testing import Infra, unique_name
from points.app import create_app as points_app
from points.settings import PointsSettings
from registry.app import create_app as registry_app
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver
from tests.security.module_service import Running, module_service

Headers = Callable[..., dict[str, str]]
CORRECTION = {"amount": 5, "reason": "补录讲座积分"}


@pytest.fixture(scope="module")
async def points(infra: Infra) -> AsyncIterator[Running[PointsSettings]]:
    async for running in module_service(infra, PointsSettings, points_app):
        yield running


@pytest.fixture(scope="module")
async def registry(infra: Infra) -> AsyncIterator[Running[RegistrySettings]]:
    async for running in module_service(infra, RegistrySettings, registry_app):
        yield running


@pytest.fixture(scope="module")
async def cases(infra: Infra) -> AsyncIterator[Running[CasesSettings]]:
    async for running in module_service(infra, CasesSettings, cases_app):
        yield running


async def _account(points: Running[PointsSettings]) -> str:
    driver_id = unique_name("drv_")
    await points.app.state.service.open_account(driver_id, datetime.now(UTC))
    return driver_id


async def test_a_notify_editor_cannot_adjust_points_and_a_points_admin_can(
    points: Running[PointsSettings], token: Headers
) -> None:
    driver_id = await _account(points)
    url = f"/v1/accounts/{driver_id}/adjustments"
    editor = await points.http.post(
        url, json=CORRECTION, headers=token("operator", roles=["notify_editor"])
    )
    admin = await points.http.post(
        url, json=CORRECTION, headers=token("operator", roles=["points_admin"])
    )
    assert editor.status_code == 403, editor.text
    assert editor.headers["content-type"].startswith("application/problem+json")
    assert editor.json()["missing_scope"] == "points:adjust"
    assert admin.status_code == 201, admin.text


async def test_an_auditor_reads_points_but_changes_no_rule_and_no_balance(
    points: Running[PointsSettings], token: Headers
) -> None:
    driver_id = await _account(points)
    auditor = token("operator", roles=["auditor"])
    ledger = await points.http.get(f"/v1/accounts/{driver_id}/ledger", headers=auditor)
    rule = await points.http.put(
        "/v1/rules/audit-probe",
        json={"name": "探针", "event_type": "training.completed.v1", "points": 50},
        headers=auditor,
    )
    adjusted = await points.http.post(
        f"/v1/accounts/{driver_id}/adjustments", json=CORRECTION, headers=auditor
    )
    assert ledger.status_code == 200, ledger.text
    assert rule.status_code == 403 and rule.json()["missing_scope"] == "rules:manage"
    assert adjusted.status_code == 403


async def test_an_operator_without_roles_or_scopes_and_a_station_claiming_roles_get_nothing(
    points: Running[PointsSettings], token: Headers
) -> None:
    driver_id = await _account(points)
    bare = await points.http.get(
        f"/v1/accounts/{driver_id}/ledger", headers=token("operator", roles=[])
    )
    station = await points.http.post(
        f"/v1/accounts/{driver_id}/adjustments",
        json=CORRECTION,
        headers=token("station", station_id="st-1", roles=["points_admin"]),
    )
    assert bare.status_code == 403 and bare.json()["missing_scope"] == "points:read"
    assert station.status_code == 403


async def test_an_auditor_neither_registers_nor_erases_and_a_clerk_reveals_nothing(
    registry: Running[RegistrySettings], token: Headers
) -> None:
    http = registry.http
    auditor = token("operator", roles=["auditor"])
    clerk = token("operator", roles=["registry_clerk"])
    refused = await http.post("/v1/drivers", json=driver(911), headers=auditor)
    driver_id = (await http.post("/v1/drivers", json=driver(912), headers=clerk)).json()[
        "driver_id"
    ]
    read = await http.get(f"/v1/drivers/{driver_id}", headers=auditor)
    erased = await http.post(
        f"/v1/drivers/{driver_id}/erasure", json={"reason": "on_request"}, headers=auditor
    )
    revealed = await http.post(
        f"/v1/drivers/{driver_id}/pii/reveal",
        json={"field": "phone", "purpose": "identity_check"},
        headers=clerk,
    )
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "drivers:write"
    assert read.status_code == 200
    assert erased.status_code == 403 and erased.json()["missing_scope"] == "drivers:erase"
    assert revealed.status_code == 403 and revealed.json()["missing_scope"] == "pii:read"


async def test_an_operator_without_a_case_role_reads_cases_only_with_drivers_read(
    cases: Running[CasesSettings], token: Headers
) -> None:
    driver_id = unique_name("drv_")
    opened = await cases.http.post(
        "/v1/cases",
        json={
            "driver_id": driver_id,
            "kind": "complaint",
            "category": "freight_payment",
            "description": "运费拖欠三个月",
        },
        headers=token("driver", driver_id=driver_id),
    )
    case_id = opened.json()["case"]["case_id"]
    editor = token("operator", roles=["notify_editor"])
    clerk = token("operator", roles=["registry_clerk"])
    by_editor = await cases.http.get(f"/v1/cases/{case_id}", headers=editor)
    listed_by_editor = await cases.http.get("/v1/cases", headers=editor)
    by_clerk = await cases.http.get(f"/v1/cases/{case_id}", headers=clerk)
    assert opened.status_code == 201, opened.text
    assert by_editor.status_code == 404 and listed_by_editor.json()["items"] == []
    assert by_clerk.status_code == 200
