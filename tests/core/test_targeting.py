"""Tests for abflask.core.targeting: audiences, matching, save-time checks, rules."""

from __future__ import annotations

from typing import Any

import pytest

from abflask.core.segment import Segment
from abflask.core.targeting import (
    EVERYONE,
    MAX_AUDIENCE_SEGMENTS,
    MAX_VALUE_BYTES,
    NOBODY,
    Audience,
    Rule,
    check_audience,
    check_segment_names,
    json_value,
    matches,
    parse_audience,
    parse_rule,
    resolve,
    saved_groups,
)
from abflask.errors import ValidationError

BETA = Segment(key="beta", values=tuple(f"u-{i}" for i in range(10_000)))
EU = Segment(key="eu", condition={"country": {"$in": ["DE", "FR"]}})
PRO = Segment(key="pro", condition={"plan": "pro"})
BETA_EU = Segment(key="beta-eu", condition={"id": {"$inGroup": "beta"}, "eu": True})
SEGMENTS = {s.key: s for s in (BETA, EU, PRO, BETA_EU)}


def user(uid: str = "u-1", **attributes: Any) -> dict[str, Any]:
    return {"id": uid, **attributes}


# --- matches ------------------------------------------------------------------


def test_everyone_matches_an_empty_audience() -> None:
    assert EVERYONE.everyone and resolve(EVERYONE, {}) is None
    assert matches(EVERYONE, {}, {})


def test_the_condition_decides() -> None:
    audience = Audience({"plan": "pro", "age": {"$gte": 18}})
    assert matches(audience, user(plan="pro", age=30), SEGMENTS)
    assert not matches(audience, user(plan="pro", age=17), SEGMENTS)
    assert not matches(audience, user(), SEGMENTS)


def test_every_named_segment_and_the_condition_must_match() -> None:
    audience = Audience({"age": {"$gte": 18}}, ("eu", "pro"))
    assert matches(audience, user(country="DE", plan="pro", age=20), SEGMENTS)
    assert not matches(audience, user(country="US", plan="pro", age=20), SEGMENTS)
    assert not matches(audience, user(country="DE", plan="free", age=20), SEGMENTS)
    assert not matches(audience, user(country="DE", plan="pro", age=10), SEGMENTS)


def test_list_segments_are_saved_groups() -> None:
    inside = Audience({"id": {"$inGroup": "beta"}})
    outside = Audience({"id": {"$notInGroup": "beta"}})
    assert matches(inside, user("u-9999"), SEGMENTS)
    assert not matches(inside, user("u-10000"), SEGMENTS)
    assert matches(outside, user("u-10000"), SEGMENTS)
    assert not matches(outside, user("u-5"), SEGMENTS)


def test_a_condition_segment_may_use_a_list_segment() -> None:
    audience = Audience(None, ("beta-eu",))
    assert matches(audience, user("u-3", eu=True), SEGMENTS)
    assert not matches(audience, user("u-3", eu=False), SEGMENTS)
    assert not matches(audience, user("x", eu=True), SEGMENTS)


WITHOUT_BETA = {k: s for k, s in SEGMENTS.items() if k != "beta"}


@pytest.mark.parametrize(
    ("audience", "segments"),
    [
        (Audience(None, ("gone",)), SEGMENTS),
        (Audience(None, ("beta",)), SEGMENTS),  # a list is not a named condition
        (Audience({"id": {"$notInGroup": "gone"}}), SEGMENTS),
        (Audience({"id": {"$notInGroup": "eu"}}), SEGMENTS),  # not a list
        (Audience(None, ("beta-eu",)), WITHOUT_BETA),  # its group is missing
    ],
    ids=["missing", "list-named", "missing-group", "condition-as-group", "nested"],
)
def test_a_missing_segment_matches_nobody(
    audience: Audience, segments: dict[str, Segment]
) -> None:
    """Fail closed, even where the condition alone would hold (``$notInGroup``)."""
    assert resolve(audience, segments) == NOBODY
    assert not matches(audience, user("u-1", eu=True), segments)


def test_saved_groups_are_the_list_segments() -> None:
    groups = saved_groups(SEGMENTS)
    assert list(groups) == ["beta"] and len(groups) == 1
    assert "beta" in groups and "eu" not in groups and 3 not in groups
    assert "u-7" in groups["beta"]
    with pytest.raises(KeyError):
        groups["eu"]


def test_segment_refs_name_the_segments_and_the_groups() -> None:
    audience = Audience({"$or": [{"id": {"$inGroup": "beta"}}]}, ("eu",))
    assert audience.segment_refs() == {"beta", "eu"}
    assert audience.fields() == {
        "condition": {"$or": [{"id": {"$inGroup": "beta"}}]},
        "segments": ["eu"],
    }
    assert EVERYONE.fields() == {}


# --- parsing and save-time checks ---------------------------------------------


def test_parse_audience_reads_both_fields() -> None:
    body = {"condition": {"plan": "pro"}, "segments": ["eu", "pro"]}
    assert parse_audience(body) == Audience({"plan": "pro"}, ("eu", "pro"))
    assert parse_audience({}) == EVERYONE
    assert parse_audience({"condition": None, "segments": None}) == EVERYONE


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"condition": []}, "rules[3].condition"),
        ({"condition": {"plan": {"$in": 3}}}, "rules[3].condition.plan.$in"),
        ({"segments": "eu"}, "rules[3].segments"),
        ({"segments": ["eu", "a b"]}, "rules[3].segments[1]"),
        ({"segments": ["eu", "eu"]}, "rules[3].segments[1]"),
        ({"segments": [f"s{i}" for i in range(MAX_AUDIENCE_SEGMENTS + 1)]},
         "rules[3].segments"),
    ],
    ids=["condition-list", "condition-operator", "segments-string", "bad-name",
         "named-twice", "too-many"],
)  # fmt: skip
def test_parse_audience_names_the_bad_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_audience(body, "rules[3].")
    assert info.value.field == field


@pytest.mark.parametrize(
    ("audience", "field", "message"),
    [
        (Audience(None, ("eu", "gone")), "segments[1]", "unknown segment 'gone'"),
        (Audience(None, ("beta",)), "segments[0]", "is a list segment"),
        (Audience({"id": {"$inGroup": "gone"}}), "condition.id.$inGroup", "unknown"),
        (Audience({"id": {"$inGroup": "eu"}}), "condition.id.$inGroup", "condition"),
    ],
    ids=["unknown-named", "list-named", "unknown-group", "condition-as-group"],
)
def test_check_audience_names_the_bad_reference(
    audience: Audience, field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        check_audience(audience, SEGMENTS)
    assert info.value.field == field
    with pytest.raises(ValidationError) as info:
        check_audience(audience, SEGMENTS, "rules[2].")
    assert info.value.field == f"rules[2].{field}"


def test_check_audience_accepts_saved_segments_of_the_right_kind() -> None:
    check_audience(Audience({"id": {"$inGroup": "beta"}}, ("eu", "pro")), SEGMENTS)
    check_segment_names(["eu", "beta-eu"], SEGMENTS, "segments")


# --- rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ({"force": "blue"}, Rule(EVERYONE, "blue")),
        ({"condition": {"plan": "pro"}, "force": None},
         Rule(Audience({"plan": "pro"}), None)),
        ({"segments": ["eu"], "rollout": 0.2, "value": {"a": [1]}, "seed": "s"},
         Rule(Audience(None, ("eu",)), {"a": [1]}, 0.2, "s")),
        ({"rollout": 1, "value": 3}, Rule(EVERYONE, 3, 1.0)),
    ],
    ids=["force", "force-null", "rollout", "rollout-no-seed"],
)  # fmt: skip
def test_rules_parse_and_round_trip(raw: dict[str, Any], rule: Rule) -> None:
    parsed = parse_rule(raw, "rules[0]")
    assert parsed == rule
    assert Rule.from_dict(parsed.to_dict()) == parsed
    assert parse_rule(parsed.to_dict(), "rules[0]") == parsed


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "rules[4]"),
        ({}, "rules[4]"),
        ({"force": 1, "rollout": 0.5}, "rules[4].rollout"),
        ({"force": 1, "seed": "s"}, "rules[4].seed"),
        ({"rollout": 0.5}, "rules[4].value"),
        ({"rollout": 1.5, "value": 1}, "rules[4].rollout"),
        ({"rollout": 0.5, "value": 1, "seed": ""}, "rules[4].seed"),
        ({"force": "x" * MAX_VALUE_BYTES}, "rules[4].force"),
        ({"condition": {"a": {"$regex": "(a+)+"}}, "force": 1},
         "rules[4].condition.a.$regex"),
        ({"segments": [1], "force": 1}, "rules[4].segments[0]"),
        ({"force": 1, "colour": "red"}, "rules[4].colour"),
    ],
    ids=["not-an-object", "empty", "force-and-rollout", "force-and-seed",
         "rollout-without-value", "rollout-above-1", "empty-seed", "value-too-big",
         "unsafe-regex", "segment-not-a-key", "unknown-field"],
)  # fmt: skip
def test_invalid_rules_name_the_bad_field(raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_rule(raw, "rules[4]")
    assert info.value.field == field


def test_values_are_bounded_json() -> None:
    fits = "x" * (MAX_VALUE_BYTES - 2)  # two quotes
    assert json_value(fits, "value") == fits
    assert json_value({"a": [1, None, True]}, "value") == {"a": [1, None, True]}
    for bad in ("x" * (MAX_VALUE_BYTES - 1), float("nan"), {1, 2}):
        with pytest.raises(ValidationError) as info:
            json_value(bad, "value")
        assert info.value.field == "value"
