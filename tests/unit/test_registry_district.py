"""The district's pure rules (issue 16): which route grids declared routes join, branch types
only on branches, and the census's need categories equal to the cases service's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cases.domain import CATEGORIES
from registry.domain import InvalidDriverData, Route
from registry.groups import RouteGrid, check_organisation, route_grids_of
from registry.survey import NEED_CATEGORIES

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def corridor(grid_id: str, *places: str) -> RouteGrid:
    return RouteGrid(route_grid_id=grid_id, name=grid_id, places=list(places), created_at=NOW)


def test_a_route_joins_every_corridor_it_touches_and_no_other() -> None:
    grids = [
        corridor("lsy", "山东", "江苏", "河南"),
        corridor("cj", "上海", "江苏", "湖北"),
        corridor("db", "辽宁", "吉林"),
    ]
    via_jiangsu = [Route(origin="枣庄", destination="宁波", via=["江苏"])]
    assert route_grids_of(via_jiangsu, grids) == ["cj", "lsy"]
    assert route_grids_of([Route(origin="辽宁", destination="浙江")], grids) == ["db"]
    assert route_grids_of([], grids) == []


def test_only_branches_have_a_branch_type() -> None:
    check_organisation("mobile_branch", "interest")
    with pytest.raises(InvalidDriverData):
        check_organisation("mobile_branch", None)
    with pytest.raises(InvalidDriverData):
        check_organisation("industry_association", "business")


def test_census_needs_use_the_cases_services_categories() -> None:
    assert set(CATEGORIES) == NEED_CATEGORIES
