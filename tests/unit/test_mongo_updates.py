"""Update documents MongoDB refuses: one path named under two operators."""

from __future__ import annotations

from common.mongo import conflicting_paths, set_with_defaults


def test_a_path_in_both_set_and_set_on_insert_is_a_conflict() -> None:
    update = {"$set": {"active": False, "updated_at": 1}, "$setOnInsert": {"active": True}}
    assert conflicting_paths(update) == [("$set active", "$setOnInsert active")]


def test_a_path_inside_another_operators_path_is_a_conflict() -> None:
    update = {"$set": {"prefs.sms": 1}, "$unset": {"prefs": ""}, "$inc": {"prefsx": 1}}
    assert conflicting_paths(update) == [("$set prefs.sms", "$unset prefs")]


def test_distinct_paths_and_pipelines_are_not_conflicts() -> None:
    assert conflicting_paths({"$set": {"a": 1}, "$setOnInsert": {"ab": 1, "b.c": 2}}) == []
    assert conflicting_paths([{"$set": {"a": 1}}, {"$set": {"a": 2}}]) == []


def test_defaults_a_set_already_names_are_left_out_of_set_on_insert() -> None:
    assert set_with_defaults({"active": False, "at": 1}, {"active": True, "since": 0}) == {
        "$set": {"active": False, "at": 1},
        "$setOnInsert": {"since": 0},
    }
    assert set_with_defaults({"fleet": "x"}, {"active": True}) == {
        "$set": {"fleet": "x"},
        "$setOnInsert": {"active": True},
    }
    update = set_with_defaults({"prefs.sms": 1}, {"prefs": {}})
    assert update == {"$set": {"prefs.sms": 1}} and conflicting_paths(update) == []
