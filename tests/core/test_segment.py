"""Tests for abflask.core.segment: parsing, bounds, save-time checks, references."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from abflask.core.experiment import Experiment
from abflask.core.flag import Flag, Rule
from abflask.core.segment import (
    MAX_SEGMENT_VALUES,
    Members,
    Segment,
    check_segment,
    group_refs,
    parse_segment,
    references,
)
from abflask.core.targeting import Audience
from abflask.errors import ValidationError

NOW = 1_700_000_000.0
BETA = Segment(key="beta", values=("u-1", "u-2", 7))
EU_PRO = Segment(key="eu-pro", condition={"country": {"$in": ["DE", "FR"]}})


def field_of(payload: Any, current: Segment | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        parse_segment(payload, now=NOW, current=current)
    return info.value.field


# --- parse_segment -------------------------------------------------------------


def test_a_list_segment_keeps_its_values_in_order_without_duplicates() -> None:
    segment = parse_segment(
        {"key": "beta", "values": ["u-2", "u-1", "u-2", 3, 3.0, 2.5]}, now=NOW
    )
    assert segment == Segment(key="beta", values=("u-2", "u-1", 3, 2.5), updated_at=NOW)
    assert (segment.kind, segment.condition, segment.description) == ("list", None, "")


def test_a_condition_segment_keeps_its_condition() -> None:
    condition = {"country": {"$in": ["DE", "FR"]}, "plan": "pro"}
    segment = parse_segment(
        {"key": "eu-pro", "condition": condition, "description": "EU pro"}, now=NOW
    )
    assert (segment.kind, segment.condition, segment.values) == (
        "condition",
        condition,
        None,
    )
    assert segment.description == "EU pro"


def test_ten_thousand_values_are_accepted() -> None:
    values = [f"u-{i}" for i in range(MAX_SEGMENT_VALUES)]
    segment = parse_segment({"key": "big", "values": values}, now=NOW)
    assert segment.values is not None and len(segment.values) == MAX_SEGMENT_VALUES


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"key": "a b", "values": []}, "key"),
        ({"key": "s"}, "values"),
        ({"key": "s", "values": ["a"], "condition": {"a": 1}}, "values"),
        ({"key": "s", "values": "u-1"}, "values"),
        ({"key": "s", "values": ["x"] * (MAX_SEGMENT_VALUES + 1)}, "values"),
        ({"key": "s", "values": ["ok", "x" * 257]}, "values[1]"),
        ({"key": "s", "values": ["ok", True]}, "values[1]"),
        ({"key": "s", "values": [None]}, "values[0]"),
        ({"key": "s", "values": [["nested"]]}, "values[0]"),
        ({"key": "s", "values": [1, math.nan]}, "values[1]"),
        ({"key": "s", "values": [math.inf]}, "values[0]"),
        ({"key": "s", "condition": "plan == pro"}, "condition"),
        ({"key": "s", "condition": {"plan": {"$in": "pro"}}}, "condition.plan.$in"),
        ({"key": "s", "condition": {"$or": [{"a": 1}, {"b": {"$bad": 1}}]}},
         "condition.$or[1].b.$bad"),
        ({"key": "s", "values": [], "description": "d" * 1001}, "description"),
        ({"key": "s", "values": [], "colour": "red"}, "colour"),
    ],
    ids=[
        "bad-key",
        "neither-kind",
        "both-kinds",
        "values-not-a-list",
        "too-many-values",
        "value-too-long",
        "value-boolean",
        "value-null",
        "value-list",
        "value-nan",
        "value-infinite",
        "condition-not-an-object",
        "condition-bad-operator-argument",
        "condition-unknown-operator-deep",
        "description-too-long",
        "unknown-field",
    ],
)  # fmt: skip
def test_invalid_segment_names_the_bad_field(payload: Any, field: str) -> None:
    assert field_of(payload) == field


def test_patch_merges_and_keeps_the_version() -> None:
    current = replace(BETA, version=4, updated_at=NOW)
    patched = parse_segment({"description": "testers"}, now=NOW + 5, current=current)
    assert (patched.values, patched.description, patched.version) == (
        BETA.values,
        "testers",
        4,
    )
    assert patched.updated_at == NOW + 5


def test_patch_replaces_the_values() -> None:
    patched = parse_segment({"values": ["u-9"]}, now=NOW, current=BETA)
    assert patched.values == ("u-9",)


@pytest.mark.parametrize(
    ("current", "payload", "field"),
    [
        (BETA, {"condition": {"plan": "pro"}}, "condition"),
        (EU_PRO, {"values": ["u-1"]}, "values"),
        (BETA, {"key": "other"}, "key"),
        (BETA, {"values": None}, "values"),
    ],
    ids=["list-to-condition", "condition-to-list", "key", "values-removed"],
)
def test_patch_may_not_change_the_key_or_the_kind(
    current: Segment, payload: Any, field: str
) -> None:
    assert field_of(payload, current) == field


@pytest.mark.parametrize("segment", [BETA, EU_PRO], ids=["list", "condition"])
def test_round_trip_through_json(segment: Segment) -> None:
    stored = replace(segment, description="d", updated_at=NOW, version=3)
    data = json.loads(json.dumps(stored.to_dict()))
    assert Segment.from_dict(data, 3) == stored
    assert set(data) == {
        "key",
        "description",
        "values",
        "condition",
        "updated_at",
        "version",
    }


# --- membership -------------------------------------------------------------------


def test_members_test_strings_by_set_and_numbers_as_json_numbers() -> None:
    members = Members(("u-1", 7, 2.5))
    assert "u-1" in members and "7" not in members
    assert 7 in members and 7.0 in members and 2.5 in members
    assert True not in Members((1,))  # JSON true is not 1
    assert list(members) == ["u-1", 7, 2.5] and len(members) == 3
    assert members[0] == "u-1" and list(members[1:]) == [7, 2.5]


# --- check_segment: against the saved segments ---------------------------------


def test_a_condition_segment_may_use_list_segments() -> None:
    segment = Segment(key="vip", condition={"id": {"$inGroup": "beta"}})
    check_segment(segment, {"beta": BETA, "vip": segment})


@pytest.mark.parametrize(
    ("condition", "field", "message"),
    [
        ({"id": {"$inGroup": "gone"}}, "condition.id.$inGroup", "unknown segment"),
        (
            {"$or": [{"a": 1}, {"id": {"$notInGroup": "eu-pro"}}]},
            "condition.$or[1].id.$notInGroup",
            "is a condition segment",
        ),
        ({"id": {"$inGroup": "vip"}}, "condition.id.$inGroup", "unknown segment"),
    ],
    ids=["unknown", "condition-segment", "itself"],
)
def test_a_condition_segment_may_not_name_a_condition_or_missing_segment(
    condition: dict[str, Any], field: str, message: str
) -> None:
    segment = Segment(key="vip", condition=condition)
    with pytest.raises(ValidationError, match=message) as info:
        check_segment(segment, {"beta": BETA, "eu-pro": EU_PRO, "vip": segment})
    assert info.value.field == field


def test_a_list_segment_has_nothing_to_check() -> None:
    check_segment(BETA, {})


def test_group_refs_finds_every_group_with_its_path() -> None:
    condition = {
        "id": {"$inGroup": "a"},
        "$or": [{"x": 1}, {"$not": {"id": {"$notInGroup": "b"}}}],
    }
    assert group_refs(condition, "condition") == [
        ("condition.$or[1].$not.id.$notInGroup", "b"),
        ("condition.id.$inGroup", "a"),
    ]


# --- references: who uses a segment ----------------------------------------------


def test_references_name_every_user_of_a_segment() -> None:
    vip = Segment(key="vip", condition={"id": {"$inGroup": "beta"}})
    experiments = {
        "btn": Experiment(key="btn", variations=("a", "b"), segments=("eu-pro",)),
        "nav": Experiment(
            key="nav", variations=("a", "b"), condition={"id": {"$inGroup": "beta"}}
        ),
        "plain": Experiment(key="plain", variations=("a", "b")),
    }
    flags = {
        "f": Flag(key="f", rules=(Rule(Audience(None, ("eu-pro",)), "x"),)),
        "g": Flag(key="g"),
    }
    segments = {"beta": BETA, "eu-pro": EU_PRO, "vip": vip}
    assert references("eu-pro", experiments, flags, segments) == {
        "experiments": ["btn"],
        "flags": ["f"],
    }
    assert references("beta", experiments, flags, segments) == {
        "experiments": ["nav"],
        "segments": ["vip"],
    }
    assert references("vip", experiments, flags, segments) == {}
    assert vip.segment_refs() == {"beta"} and BETA.segment_refs() == frozenset()
