"""The authorization model's table and checks (common.authz), without services."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import jwt
import pytest

from common.auth import Principal, main
from common.authz import (
    FULL_OPERATOR_ROLES,
    NAMED_ROLES,
    owns_driver,
    owns_station,
    require_scope,
)
from common.problems import Problem


def test_named_roles_expand_into_an_operators_scopes_and_the_scope_claim_adds_to_them() -> None:
    clerk = Principal(sub="op-1", role="operator", roles=("registry_clerk",), scope="cases:care")
    assert clerk.scopes == NAMED_ROLES["registry_clerk"] | {"cases:care"}
    assert not clerk.has_scope("pii:read")


def test_the_mutual_help_role_claims_and_manages_the_board_and_nothing_else() -> None:
    helper = Principal(sub="op-2", role="operator", roles=("mutual_help",))
    assert helper.scopes == {"help:claim", "help:manage"}
    assert not helper.has_scope("cases:care") and not helper.has_scope("pii:read")


def test_care_staff_review_aid_and_the_mutual_help_role_does_not() -> None:
    care = Principal(sub="op-3", role="operator", roles=("case_care",))
    assert care.scopes == {"cases:care", "aid:review"}
    helper = Principal(sub="op-2", role="operator", roles=("mutual_help",))
    assert not helper.has_scope("aid:review")


def test_roles_grant_nothing_to_other_roles_and_unknown_names_grant_nothing() -> None:
    station = Principal(sub="s", role="station", station_id="st-1", roles=("security_officer",))
    stranger = Principal(sub="op", role="operator", roles=("god",))
    assert station.scopes == frozenset() and stranger.scopes == frozenset()


def test_an_operator_with_full_roles_holds_every_scope_of_the_table() -> None:
    full = Principal(sub="op", role="operator", roles=FULL_OPERATOR_ROLES)
    assert full.scopes == frozenset().union(*NAMED_ROLES.values())


def test_require_scope_names_the_missing_scope_and_lets_admitted_roles_through() -> None:
    check = require_scope("points:adjust", or_roles=("driver",))
    editor = Principal(sub="op", role="operator", roles=("notify_editor",))
    driver = Principal(sub="d", role="driver", driver_id="drv_1")
    with pytest.raises(Problem) as refused:
        asyncio.run(check(editor))
    assert refused.value.status == 403 and refused.value.extra == {"missing_scope": "points:adjust"}
    assert asyncio.run(check(driver)) is driver
    with pytest.raises(Problem):
        asyncio.run(check(Principal(sub="s", role="station", station_id="st-1")))


def test_a_scope_no_role_grants_fails_when_the_route_is_built() -> None:
    with pytest.raises(ValueError, match="points:adjsut"):
        require_scope("points:adjsut")


def test_ownership_is_the_token_own_driver_or_station() -> None:
    driver = Principal(sub="d", role="driver", driver_id="drv_1")
    station = Principal(sub="s", role="station", station_id="st-1")
    assert owns_driver(driver, "drv_1") and not owns_driver(driver, "drv_2")
    assert owns_station(station, "st-1") and not owns_station(station, "st-2")
    assert not owns_station(Principal(sub="s", role="station"), None)


def test_the_token_command_narrows_an_operator_with_as(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIVERHOME_ENVIRONMENT", "development")
    main(["--role", "operator", "--as", "points_admin,auditor"])
    token = capsys.readouterr().out.strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["roles"] == ["points_admin", "auditor"]
    main(["--role", "operator"])
    full = jwt.decode(
        capsys.readouterr().out.strip().splitlines()[-1], options={"verify_signature": False}
    )
    assert tuple(full["roles"]) == FULL_OPERATOR_ROLES
    with pytest.raises(SystemExit):
        main(["--role", "operator", "--as", "god"])


def test_docs_security_md_lists_every_named_role_with_exactly_its_scopes() -> None:
    table = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| ((?:`[a-z]+:[a-z]+` ?)+)", table, re.MULTILINE))
    documented = {
        name: frozenset(re.findall(r"`([^`]+)`", scopes)) for name, scopes in rows.items()
    }
    assert documented == dict(NAMED_ROLES)
