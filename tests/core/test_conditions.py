"""Tests for abflask.core.conditions and abflask.core.versions. Pure.

``data/growthbook-evalCondition.json`` is the ``evalCondition`` section of
GrowthBook's cross-SDK cases.json (MIT, notice in ``data/growthbook-LICENSE``;
source URL and commit in the file's header keys). Every case must pass; the
tests after it cover what that suite does not: strict equality choices, paths
through lists, malformed conditions, validation paths and bounds, regex safety
and attribute bounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abflask.core import regexes
from abflask.core.conditions import (
    MAX_ATTRIBUTE_BYTES,
    MAX_CONDITION_BYTES,
    MAX_CONDITION_DEPTH,
    MAX_IN_LIST,
    check_attributes,
    eval_condition,
    validate_condition,
)
from abflask.core.regexes import MAX_REGEX_INPUT, MAX_REGEX_LENGTH
from abflask.core.versions import compare_versions, js_number, padded_version
from abflask.errors import ValidationError

DATA = Path(__file__).parent / "data"
GB = json.loads((DATA / "growthbook-evalCondition.json").read_text(encoding="utf-8"))
CASES: list[list[Any]] = GB["evalCondition"]


# --- GrowthBook's cross-SDK cases --------------------------------------------


def test_vendored_cases_name_their_source_and_licence() -> None:
    assert GB["source"].startswith("https://github.com/growthbook/growthbook/blob/")
    assert GB["commit"] in GB["source"]
    assert "MIT" in GB["license"]
    notice = (DATA / "growthbook-LICENSE").read_text(encoding="utf-8")
    assert "GrowthBook" in notice
    assert "Permission is hereby granted, free of charge" in notice
    assert len(CASES) >= 248


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{i:03d} {case[0]}" for i, case in enumerate(CASES)]
)
def test_growthbook_eval_condition_case(case: list[Any]) -> None:
    _name, condition, attributes, expected, *groups = case
    assert eval_condition(attributes, condition, *groups) is expected


REJECTED_ON_SAVE = {
    # attribute names may not start with $ (they look like a misspelt operator)
    "$groups - match": "condition.$and[0].$groups",
    "$groups - no match": "condition.$and[0].$groups",
    # wrong argument types and unknown operators are errors when saved
    "$in - not array": "condition.num.$in",
    "$nin - not array": "condition.num.$nin",
    "$ini - not array": "condition.num.$ini",
    "$nini - not array": "condition.num.$nini",
    "unknown operator - pass": "condition.name.$regx",
    "$regex invalid - pass": "condition.name.$regex",
    "$regex invalid - fail": "condition.name.$regex",
}


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{i:03d} {case[0]}" for i, case in enumerate(CASES)]
)
def test_growthbook_conditions_validate_unless_malformed(case: list[Any]) -> None:
    name, condition = case[0], case[1]
    groups = list(case[4]) if len(case) > 4 else None
    if name in REJECTED_ON_SAVE:
        with pytest.raises(ValidationError) as info:
            validate_condition(condition)
        assert info.value.field == REJECTED_ON_SAVE[name]
    elif "unknowngroup_id" in json.dumps(condition):
        validate_condition(condition)  # unchecked without a list of groups
        with pytest.raises(ValidationError, match="unknown saved group"):
            validate_condition(condition, groups=groups)
    else:
        assert validate_condition(condition, groups=groups) is condition


# --- evaluation beyond the suite ---------------------------------------------

OWN_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # paths: a part of digits indexes a list, as in the JavaScript SDK
    ("index into list", {"tags.0": "a"}, {"tags": ["a", "b"]}, True),
    ("index second", {"tags.1": "a"}, {"tags": ["a", "b"]}, False),
    ("index past end", {"tags.2": {"$exists": False}}, {"tags": ["a"]}, True),
    (
        "index not canonical",
        {"tags.01": {"$exists": True}},
        {"tags": ["a", "b"]},
        False,
    ),
    ("negative index", {"tags.-1": {"$exists": True}}, {"tags": ["a"]}, False),
    (
        "list of objects",
        {"o.1.total": {"$gt": 10}},
        {"o": [{"total": 5}, {"total": 20}]},
        True,
    ),
    ("deep mixed path", {"a.b.0.c.1": 3}, {"a": {"b": [{"c": [2, 3]}]}}, True),
    ("string is not indexed", {"name.0": "b"}, {"name": "bob"}, False),
    ("length is not a path", {"tags.length": 2}, {"tags": ["a", "b"]}, False),
    ("empty path part", {"a..b": 1}, {"a": {"": {"b": 1}}}, True),
    # strict JSON equality for $eq $ne $in $nin and groups (the JavaScript SDK)
    ("$eq number vs numeric string", {"n": {"$eq": 8}}, {"n": "8"}, False),
    ("$eq true vs 1", {"n": {"$eq": True}}, {"n": 1}, False),
    ("$eq int vs float", {"n": {"$eq": 8}}, {"n": 8.0}, True),
    ("$eq list", {"n": {"$eq": [1, {"a": None}]}}, {"n": [1, {"a": None}]}, True),
    ("$eq null vs 0", {"n": {"$eq": None}}, {"n": 0}, False),
    ("$ne missing attribute", {"level": {"$ne": "senior"}}, {}, True),
    ("$in true vs 1", {"flag": {"$in": [1]}}, {"flag": True}, False),
    ("$in null", {"x": {"$in": [None]}}, {}, True),
    (
        "$in unhashable items",
        {"tags": {"$in": ["a"]}},
        {"tags": [{"x": 1}, ["y"], "a"]},
        True,
    ),
    (
        "$nin unhashable items",
        {"tags": {"$nin": [["y"]]}},
        {"tags": [{"x": 1}, ["y"]]},
        False,
    ),
    ("$ini non-string", {"n": {"$ini": [1, "A"]}}, {"n": 1}, True),
    # implicit equality is plain equality; {} is a value, not an operator object
    ("implicit 1 == true", {"flag": True}, {"flag": 1}, True),
    ("empty object vs missing", {"a": {}}, {}, False),
    ("empty object vs empty", {"a": {}}, {"a": {}}, True),
    (
        "mixed keys are a value",
        {"a": {"$gt": 1, "b": 2}},
        {"a": {"$gt": 1, "b": 2}},
        True,
    ),
    # ordering: GrowthBook's compare, with no NaN and no Python-only numbers
    ("null vs number", {"n": {"$lt": 1}}, {"n": None}, True),
    ("bool vs number", {"n": {"$gte": 1}}, {"n": True}, True),
    ("nan string", {"n": {"$lte": 5}}, {"n": "nan"}, False),
    ("underscore digits", {"n": {"$gt": 5}}, {"n": "1_000"}, False),
    ("padded numeric string", {"n": {"$gt": 5}}, {"n": " 6 "}, True),
    ("null vs null", {"n": {"$lte": None}}, {}, False),
    ("string vs null", {"n": {"$lt": "b"}}, {}, False),
    ("list vs list", {"n": {"$lt": [2]}}, {"n": [1]}, False),
    ("float nan attribute", {"n": {"$lte": 5}}, {"n": float("nan")}, False),
    # $elemMatch tests every item, falsy ones too
    ("$elemMatch zero", {"nums": {"$elemMatch": {"$eq": 0}}}, {"nums": [0]}, True),
    (
        "$elemMatch on scalars",
        {"xs": {"$elemMatch": {"a": 1}}},
        {"xs": [1, {"a": 1}]},
        True,
    ),
    ("$elemMatch empty", {"xs": {"$elemMatch": {}}}, {"xs": [0]}, True),
    ("$size operators", {"xs": {"$size": {"$gte": 1, "$lt": 3}}}, {"xs": [1, 2]}, True),
    ("$all with operators", {"xs": {"$all": [{"$gt": 5}, 1]}}, {"xs": [1, 9]}, True),
    ("$all empty", {"xs": {"$all": []}}, {"xs": []}, True),
    ("$type unknown", {"x": {"$type": "unknown"}}, {"x": object()}, True),
    ("$exists truthy string", {"x": {"$exists": "yes"}}, {"x": 0}, True),
    # regexes match strings only, on the first MAX_REGEX_INPUT characters
    ("$regex on number", {"n": {"$regex": "^1"}}, {"n": 123}, False),
    ("$regex non-string pattern", {"n": {"$regex": 1}}, {"n": "1"}, False),
    ("$regexi", {"ua": {"$regexi": "^IPHONE"}}, {"ua": "iPhone OS"}, True),
    (
        "$regex past the limit",
        {"s": {"$regex": "z"}},
        {"s": "a" * MAX_REGEX_INPUT + "z"},
        False,
    ),
    (
        "$regex at the limit",
        {"s": {"$regex": "z$"}},
        {"s": "a" * (MAX_REGEX_INPUT - 1) + "z"},
        True,
    ),
    (
        "unsafe regex is false",
        {"s": {"$regex": "(a+)+$"}},
        {"s": "a" * 40 + "!"},
        False,
    ),
    ("too long regex is false", {"s": {"$regex": "a" * 257}}, {"s": "a" * 300}, False),
    # saved groups
    ("$inGroup list attribute", {"ids": {"$inGroup": "g"}}, {"ids": [9, 2]}, True),
    ("$inGroup strict", {"id": {"$inGroup": "g"}}, {"id": True}, False),
    ("$notInGroup non-string", {"id": {"$notInGroup": 1}}, {"id": 5}, False),
    ("$inGroup null group", {"id": {"$inGroup": "empty"}}, {"id": None}, False),
    # malformed conditions are false, never an exception
    ("$or not a list", {"$or": {"a": 1}}, {"a": 1}, False),
    ("$and not a list", {"$and": "a"}, {}, False),
    ("$nor not a list", {"$nor": 1}, {}, False),
    ("$nor empty", {"$nor": []}, {}, False),
    ("$not not an object", {"$not": 5}, {}, False),
    ("$or item not an object", {"$or": [5]}, {}, False),
    ("$elemMatch not an object", {"xs": {"$elemMatch": 5}}, {"xs": [5]}, False),
    ("$all not a list", {"xs": {"$all": "a"}}, {"xs": ["a"]}, False),
]
GROUPS: Any = {"g": [1, 2, 3], "empty": None}


@pytest.mark.parametrize(
    ("condition", "attributes", "expected"),
    [case[1:] for case in OWN_CASES],
    ids=[case[0] for case in OWN_CASES],
)
def test_eval_condition(
    condition: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    assert eval_condition(attributes, condition, GROUPS) is expected


def test_eval_condition_of_a_non_object_is_false() -> None:
    not_a_condition: Any = []
    assert eval_condition({}, not_a_condition) is False
    assert eval_condition({}, {1: "a"}) is False


def test_eval_condition_nested_past_the_stack_is_false() -> None:
    condition: dict[str, Any] = {"a": 1}
    for _ in range(100_000):
        condition = {"$not": condition}
    assert eval_condition({"a": 1}, condition) is False


def test_eval_condition_without_saved_groups() -> None:
    assert eval_condition({"id": 1}, {"id": {"$inGroup": "g"}}) is False
    assert eval_condition({"id": 1}, {"id": {"$notInGroup": "g"}}) is True


# --- versions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "padded"),
    [
        ("1.2.3", "    1-    2-    3-~"),
        ("v1.2.3+build.7", "    1-    2-    3-~"),
        ("1.2.3-rc.1", "    1-    2-    3-rc-    1"),
        ("1-2-3", "    1-    2-    3-~"),
        ("123456.0.1", "123456-    0-    1-~"),
        ("1.2", "    1-    2"),
        ("1.0.0+a\nb", "    1-    0-0+a\nb-~"),  # JS's .* stops at the line break
        ("1.0.0+a\nb+c", "    1-    0-0+a\nb-~"),  # only the last +c goes
        ("vv1", "v1"),
        ("\u0661.\u0662.\u0663", "\u0661-\u0662-\u0663-~"),  # Arabic digits: not padded
        ("", "    0"),
        (None, "    0"),
        (True, "    0"),
        ([1, 2], "    0"),
        (0, "    0"),
        (2, "    2"),
        (1.5, "    1-    5"),
        (1.0, "    1"),
        (1e21, "1e"),  # String(1e21) is "1e+21" and "+21" is build metadata
    ],
)
def test_padded_version(value: Any, padded: str) -> None:
    assert padded_version(value) == padded


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e16, "10000000000000000"),
        (1e21, "1e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (2**60, "1152921504606847000"),
        (10**400, "Infinity"),
        (float("nan"), "NaN"),
    ],
)
def test_js_number_writes_numbers_as_javascript_does(value: float, text: str) -> None:
    assert js_number(value) == text


@pytest.mark.parametrize(
    ("left", "right", "order"),
    [
        ("1.0.0", "1.0.0-rc.1", 1),
        ("1.10.0", "1.9.0", 1),
        ("1.0.0", "v1.0.0+x", 0),
        ("2", 2, 0),
        ("1.0.0-\uffff", "1.0.0-\U0001f600", 1),  # UTF-16 units, as JavaScript
        (None, "0", 0),
    ],
)
def test_compare_versions(left: Any, right: Any, order: int) -> None:
    assert compare_versions(left, right) == order
    assert compare_versions(right, left) == -order


# --- validation -----------------------------------------------------------------


def _field(condition: Any, groups: list[str] | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        validate_condition(condition, groups=groups)
    assert info.value.message.startswith(info.value.field + ": ")
    return info.value.field


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ([], "condition"),
        ({1: "a"}, "condition"),
        ({"a": float("nan")}, "condition.a"),
        ({"a": {1, 2}}, "condition.a"),
        ({"$and": "x"}, "condition.$and"),
        ({"$or": [{"a": 1}, 5]}, "condition.$or[1]"),
        ({"$or": [{"a": 1}, {"plan": {"$in": "pro"}}]}, "condition.$or[1].plan.$in"),
        ({"$nor": [{"plan": {"$foo": 1}}]}, "condition.$nor[0].plan.$foo"),
        ({"$not": []}, "condition.$not"),
        ({"$where": "1"}, "condition.$where"),
        ({"a": {}}, "condition.a"),
        ({"a": {"$gt": 1, "b": 2}}, "condition.a.$gt"),
        ({"a": {"b": {"$gt": 1}}}, "condition.a.b.$gt"),
        ({"a": [{"$gt": 1}]}, "condition.a[0].$gt"),
        ({"a": {"$eq": {"$gt": 1}}}, "condition.a.$eq.$gt"),
        ({"a": {"$in": [1, [2]]}}, "condition.a.$in[1]"),
        ({"a": {"$in": list(range(MAX_IN_LIST + 1))}}, "condition.a.$in"),
        ({"a": {"$all": [1, {"$bad": 1}]}}, "condition.a.$all[1].$bad"),
        ({"a": {"$all": "x"}}, "condition.a.$all"),
        ({"a": {"$elemMatch": []}}, "condition.a.$elemMatch"),
        ({"a": {"$elemMatch": {}}}, "condition.a.$elemMatch"),
        ({"a": {"$elemMatch": {"$or": []}}}, "condition.a.$elemMatch.$or"),
        ({"a": {"$elemMatch": {"b": {"$size": -1}}}}, "condition.a.$elemMatch.b.$size"),
        ({"a": {"$size": 1.5}}, "condition.a.$size"),
        ({"a": {"$size": True}}, "condition.a.$size"),
        ({"a": {"$size": {"n": 1}}}, "condition.a.$size"),
        ({"a": {"$size": {"$bad": 1}}}, "condition.a.$size.$bad"),
        ({"a": {"$exists": 1}}, "condition.a.$exists"),
        ({"a": {"$type": "int"}}, "condition.a.$type"),
        ({"a": {"$type": ["string"]}}, "condition.a.$type"),
        ({"a": {"$not": "x"}}, "condition.a.$not"),
        ({"a": {"$not": {"b": 1}}}, "condition.a.$not"),
        ({"a": {"$not": {"$regex": "(a+)+"}}}, "condition.a.$not.$regex"),
        ({"a": {"$gt": None}}, "condition.a.$gt"),
        ({"a": {"$lte": [1]}}, "condition.a.$lte"),
        ({"a": {"$vgt": 1}}, "condition.a.$vgt"),
        ({"a": {"$veq": ""}}, "condition.a.$veq"),
        ({"a": {"$inGroup": 5}}, "condition.a.$inGroup"),
        ({"a": {"$notInGroup": ""}}, "condition.a.$notInGroup"),
        ({"a": {"$regex": 5}}, "condition.a.$regex"),
        ({"a": {"$regex": "["}}, "condition.a.$regex"),
        ({"a": {"$regexi": "(a|ab)*c"}}, "condition.a.$regexi"),
        ({"a": {"$regex": "a" * (MAX_REGEX_LENGTH + 1)}}, "condition.a.$regex"),
        ({"a": {"$notRegex": "x"}}, "condition.a.$notRegex"),
    ],
)
def test_validate_condition_names_the_offending_part(
    condition: Any, field: str
) -> None:
    assert _field(condition) == field


def test_validate_condition_checks_saved_groups_when_given() -> None:
    condition = {"$or": [{"id": {"$inGroup": "beta"}}, {"id": {"$notInGroup": "x"}}]}
    assert validate_condition(condition, groups=["beta", "x"]) is condition
    assert _field(condition, groups=["beta"]) == "condition.$or[1].id.$notInGroup"


def test_validate_condition_uses_the_given_path() -> None:
    with pytest.raises(ValidationError) as info:
        validate_condition({"a": {"$in": 1}}, path="rules[2].condition")
    assert info.value.field == "rules[2].condition.a.$in"


def test_validate_condition_accepts_every_operator() -> None:
    condition = {
        "$and": [{"a": {"$eq": 1, "$ne": [2], "$lt": 3, "$lte": "4", "$gt": 0}}],
        "$or": [{"b": {"$gte": 1.5, "$in": [1, "x", None, True], "$nin": []}}],
        "$nor": [{"c": {"$ini": ["A"], "$nini": ["b"], "$all": [1, {"$gt": 2}]}}],
        "$not": {"d": {"$alli": ["x"], "$elemMatch": {"e": 1}, "$size": 2}},
        "f": {"$size": {"$gt": 1}, "$exists": True, "$type": "array"},
        "g": {"$regex": "^a", "$regexi": "b$", "$not": {"$in": [1]}},
        "h": {"$veq": "1.0.0", "$vne": "1", "$vgt": "0.9", "$vgte": "v1"},
        "i": {"$vlt": "2.0.0-rc.1", "$vlte": "2", "$inGroup": "g"},
        "j": {"$notInGroup": "g", "$elemMatch": {"$gt": 1}},
        "k.l.0": {"m": [1, {"n": None}]},
    }
    assert validate_condition(condition, groups={"g"}) is condition


def _nested(levels: int) -> dict[str, Any]:
    """A condition exactly ``levels`` deep: $not objects around a field."""
    condition: dict[str, Any] = {"a": 1}
    for _ in range(levels - 1):
        condition = {"$not": condition}
    return condition


def test_validate_condition_bounds_depth() -> None:
    validate_condition(_nested(MAX_CONDITION_DEPTH))
    deep = _nested(MAX_CONDITION_DEPTH + 1)
    assert _field(deep) == "condition" + ".$not" * MAX_CONDITION_DEPTH
    lists: dict[str, Any] = {"a": {"$in": [1]}}  # lists count as levels too
    for _ in range(4):  # the [1] ends up on level 3 + 2 * 4 = 11
        lists = {"$and": [lists]}
    assert _field(lists) == "condition" + ".$and[0]" * 4 + ".a.$in"


def test_validate_condition_survives_absurd_nesting() -> None:
    assert _field(_nested(100_000)) == "condition" + ".$not" * MAX_CONDITION_DEPTH


def test_validate_condition_bounds_size() -> None:
    item = "x" * 100
    per_list = (MAX_CONDITION_BYTES // len(item)) // 2
    fits = {"a": {"$in": [item] * (per_list // 2)}}
    validate_condition(fits)
    big = {"a": {"$in": [item] * per_list}, "b": {"$in": [item] * per_list}}
    with pytest.raises(ValidationError, match="bytes") as info:
        validate_condition(big)
    assert info.value.field == "condition"


# --- regex safety ---------------------------------------------------------------

CATASTROPHIC = [
    r"(a+)+$",
    r"(a|aa)*b",
    r"(x+x+)+y",
    r"^(([a-z])+.)+[A-Z]([a-z])+$",
    r"(a*)*",
    r"(a|a)*",
    r"(a|ab)*c",
    r"(.*a){20}",
    r"(?:a?){8}b",
    r"(\w+\s?)+$",
    r"(a)\1",
    r"(?P<x>a+)(?P=x)",
    r"(a)?(?(1)b|c)",
    r"(?=a+)b",
    r"(?!.*x)y",
    r"a*a*b",
    r".*a.*b",
    r"a{0,500}a{0,500}b",
    r"^\s*\w+\s*$",
]
SAFE = [
    r"(Mobile|Tablet)",
    r"-12-25$",
    r"^ping",
    r"^[a-z0-9._%+-]+@example\.com$",
    r"\w+@\w+\.com",
    r"[^@]+@[^@]+",
    r"Chrome/\d+\.\d+",
    r"^(\d{1,3}\.){3}\d{1,3}$",
    r"^https?://(www\.)?example\.com/.*",
    r"^v?\d+\.\d+\.\d+$",
    r"(?i)^/checkout",
    r"(a|b)*c",
    r"(?:ab)+c",
    r"\bfoo\b",
    r"(?<=@)example\.com$",
    r".*",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
@pytest.mark.parametrize("op", ["$regex", "$regexi"])
def test_validate_condition_rejects_catastrophic_regex(pattern: str, op: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_condition({"$or": [{"ua": {op: pattern}}]})
    assert info.value.field == f"condition.$or[0].ua.{op}"


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(a|aa)*b", r"(x+x+)+y", r"^(([a-z])+.)+[A-Z]([a-z])+$"]
)
def test_the_four_classic_regex_bombs_are_rejected(pattern: str) -> None:
    with pytest.raises(ValidationError, match="backtrack catastrophically") as info:
        validate_condition({"country": {"$regex": pattern}})
    assert info.value.field == "condition.country.$regex"


@pytest.mark.parametrize("pattern", SAFE)
def test_validate_condition_accepts_safe_regex(pattern: str) -> None:
    validate_condition({"ua": {"$regex": pattern, "$regexi": pattern}})


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [("a{2000}", True), ("a{2000,}b", True), ("(?:a{1000}){1000}", False)],
)
def test_repeat_counts_beyond_the_input_are_measured(pattern: str, ok: bool) -> None:
    condition = {"s": {"$regex": pattern}}
    if ok:
        validate_condition(condition)
    else:
        with pytest.raises(ValidationError, match="backtrack"):
            validate_condition(condition)
    assert eval_condition({"s": "a" * 3000}, condition) is False


def test_eval_never_runs_an_unsafe_regex() -> None:
    # Run, (a+)+$ would take about 2**40 steps here; it is false at once instead.
    attrs = {"s": "a" * 40 + "!"}
    assert eval_condition(attrs, {"s": {"$regex": "(a+)+$"}}) is False
    assert eval_condition(attrs, {"s": {"$not": {"$regex": "(a+)+$"}}}) is True


def _seconds(condition: dict[str, Any], attributes: dict[str, Any]) -> float:
    """Best of five timings of 20 evaluations (the minimum resists noise)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            eval_condition(attributes, condition)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(
    "pattern",
    [
        r"(Mobile|Tablet)",
        r"-12-25$",
        r"Chrome/\d+\.\d+",
        r"^[a-z0-9._%+-]+@example\.com$",
        r"(?i)iphone|ipad",
    ],
)
def test_allowed_regex_on_a_megabyte_costs_a_bounded_multiple_of_a_trivial_one(
    pattern: str,
) -> None:
    validate_condition({"ua": {"$regex": pattern}})
    attributes = {"ua": "a" * 2**20}
    trivial = _seconds({"ua": {"$regex": "x"}}, attributes)
    assert _seconds({"ua": {"$regex": pattern}}, attributes) < 50 * trivial


@pytest.mark.parametrize("pattern", [r"\w+@\w+\.com", r"[^@]+@[^@]+"])
def test_slowest_kind_of_allowed_regex_reads_only_the_first_characters(
    pattern: str,
) -> None:
    validate_condition({"ua": {"$regex": pattern}})
    condition = {"ua": {"$regex": pattern}}
    kilobyte = _seconds(condition, {"ua": "a" * MAX_REGEX_INPUT})
    megabyte = _seconds(condition, {"ua": "a" * 2**20})
    assert megabyte < 3 * kilobyte


@pytest.fixture
def fresh_regex_caches() -> Iterator[None]:
    regexes._regex_problem.cache_clear()
    regexes._compiled.cache_clear()
    yield
    regexes._regex_problem.cache_clear()
    regexes._compiled.cache_clear()


class _BrokenParser:
    @staticmethod
    def parse(pattern: str, flags: int) -> Any:
        raise TypeError("internals changed")


@pytest.mark.usefixtures("fresh_regex_caches")
@pytest.mark.parametrize("parser", [None, _BrokenParser()], ids=["missing", "changed"])
def test_without_the_parser_a_textual_rule_applies(
    monkeypatch: pytest.MonkeyPatch, parser: Any
) -> None:
    monkeypatch.setattr(regexes, "_sre_parser", parser)
    for pattern in [r"(Mobile|Tablet)", r"^ping", r"\d+$", r"^a.*"]:
        validate_condition({"x": {"$regex": pattern}})
    for pattern in [r"(a+)+$", r"a*b*", r"(ab)*", r"(?=a)b", r"(a)\1", r"\d+\.\d+"]:
        with pytest.raises(ValidationError, match="too complex") as info:
            validate_condition({"x": {"$regex": pattern}})
        assert info.value.field == "condition.x.$regex"
    assert eval_condition({"x": "a+b"}, {"x": {"$regex": "a*b*"}}) is False
    assert eval_condition({"x": "Mobile"}, {"x": {"$regex": "(Mobile|Tablet)"}}) is True


# --- attributes -----------------------------------------------------------------


def test_check_attributes_returns_attributes_within_bounds() -> None:
    attributes = {
        **{f"k{i}": i for i in range(48)},
        "a" * 64: "x" * 1024,
        "deep": {"b": {"c": [1, 2.5, None, True] + ["y"] * 96}},
    }
    assert check_attributes(attributes) is attributes


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "attributes"),
        ({f"k{i}": i for i in range(51)}, "attributes"),
        ({"a" * 65: 1}, "attributes"),
        ({"a": {"b" * 65: 1}}, "attributes.a"),
        ({1: 1}, "attributes"),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, "attributes.a.b.c.d"),
        ({"a": [[[[1]]]]}, "attributes.a[0][0][0]"),
        ({"name": "x" * 1025}, "attributes.name"),
        ({"tags": ["x"] * 101}, "attributes.tags"),
        ({"tags": ["a", "x" * 1025]}, "attributes.tags[1]"),
        ({"x": float("inf")}, "attributes.x"),
        ({"x": {1, 2}}, "attributes.x"),
        ({"x": (1, 2)}, "attributes.x"),
        ({f"k{i}": "x" * 1000 for i in range(9)}, "attributes"),
    ],
)
def test_check_attributes_names_the_offending_part(raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_attributes(raw)
    assert info.value.field == field


def test_check_attributes_bounds_bytes_not_characters() -> None:
    under = {"s": "é" * 1000}  # 2,000 bytes of UTF-8
    assert check_attributes(under) is under
    over = {f"s{i}": "é" * 1000 for i in range(5)}
    with pytest.raises(ValidationError, match=str(MAX_ATTRIBUTE_BYTES)):
        check_attributes(over)


def test_check_attributes_measures_a_lone_surrogate_instead_of_failing() -> None:
    attributes = {"s": "\ud800"}  # json.loads gives this for "\\ud800"
    assert check_attributes(attributes) is attributes
    assert validate_condition({"s": "\ud800"}) == {"s": "\ud800"}


def test_check_attributes_uses_the_given_path() -> None:
    with pytest.raises(ValidationError) as info:
        check_attributes({"tags": ["x"] * 101}, path="body.attributes")
    assert info.value.field == "body.attributes.tags"
