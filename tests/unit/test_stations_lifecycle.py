"""The life-cycle seed and the travel-time formula, without Kafka or the store."""

from __future__ import annotations

import json
import re

import pytest

from cases.domain import CATEGORIES
from stations.geography import travel_minutes
from stations.lifecycle import CASE_CATEGORIES, SEED_FILE, CodeDropped, seed_content, successor
from stations.settings import StationsSettings


def test_stations_knows_the_case_categories_the_cases_service_has() -> None:
    assert set(CATEGORIES) == CASE_CATEGORIES


def test_the_seed_is_beilun_14_nodes_and_80_items_each_citing_a_line_or_marked_completed() -> None:
    content = seed_content()
    assert len(content.stages) == 14
    assert sum(len(s.items) for s in content.stages) == 80
    raw = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    for stage in raw["stages"]:
        for item in stage["items"]:
            source = item["source"]
            assert source is None or re.fullmatch(r"seeds/00[0-4]:\d+", source), source


def test_a_new_version_may_not_drop_a_code() -> None:
    content = seed_content()
    fewer = content.model_copy(
        update={"stages": [content.stages[0].model_copy(update={"items": []})]}
    )
    with pytest.raises(CodeDropped):
        successor(content, fewer)
    assert successor(content, content) == []


def test_travel_minutes_stretch_the_distance_by_the_road_factor_at_the_class_speed() -> None:
    settings = StationsSettings()
    assert travel_minutes(15.0, settings.speed_of("urban"), settings.road_factor) == 39
    assert travel_minutes(10.0, settings.speed_of("expressway"), settings.road_factor) == 12
    assert travel_minutes(0.0, settings.speed_of("port"), settings.road_factor) == 1
    assert settings.reach_km(15) == pytest.approx(70 * 15 / 60 / 1.3)
