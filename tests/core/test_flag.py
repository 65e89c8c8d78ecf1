"""Tests for abflask.core.flag: parsing, rules, prerequisites and evaluation. Pure.

Evaluation is also checked against GrowthBook's own ``eval_feature`` (the
``growthbook`` package, loaded without its HTTP client) on equivalent
definitions.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import random
import sys
import types
from dataclasses import replace
from typing import Any

import pytest

from abflask.core import bucketing
from abflask.core.flag import (
    MAX_PREREQUISITE_DEPTH,
    Flag,
    FlagDecision,
    check_flag,
    compile_flags,
    evaluate,
    parse_flag,
    required_by,
)
from abflask.core.outcomes import Reason
from abflask.core.segment import Segment
from abflask.core.targeting import MAX_RULES, MAX_VALUE_BYTES, Audience, Rule
from abflask.errors import ValidationError

NOW = 1_700_000_000.0
IDS = [f"user-{i}" for i in range(10_000)]


# --- flags -------------------------------------------------------------------


def test_parse_flag_create_defaults() -> None:
    flag = parse_flag({"key": "new-nav"}, now=NOW)
    assert flag == Flag(
        key="new-nav", enabled=False, rollout=1.0, seed="new-nav", updated_at=NOW
    )


def test_parse_flag_patch_merges_into_current() -> None:
    current = replace(
        parse_flag({"key": "new-nav", "enabled": True, "rollout": 0.3}, now=NOW),
        version=4,
    )
    flag = parse_flag({"rollout": 0.6}, now=NOW + 5, current=current)
    assert (flag.key, flag.enabled, flag.rollout, flag.version, flag.updated_at) == (
        "new-nav",
        True,
        0.6,
        4,
        NOW + 5,
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"key": "a b"}, "key"),
        ({"key": "f", "enabled": 1}, "enabled"),
        ({"key": "f", "enabled": "true"}, "enabled"),
        ({"key": "f", "rollout": -0.1}, "rollout"),
        ({"key": "f", "rollout": 1.1}, "rollout"),
        ({"key": "f", "rollout": "0.5"}, "rollout"),
        ({"key": "f", "rollout": True}, "rollout"),
        ({"key": "f", "rollout": 10**400}, "rollout"),
        ({"key": "f", "description": "d" * 1001}, "description"),
        ({"key": "f", "colour": "red"}, "colour"),
    ],
    ids=[
        "bad-key",
        "enabled-int",
        "enabled-string",
        "rollout-negative",
        "rollout-above-1",
        "rollout-string",
        "rollout-bool",
        "rollout-beyond-float-range",
        "description-too-long",
        "unknown-field",
    ],
)
def test_invalid_flag_names_the_bad_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_flag(payload, now=NOW)
    assert info.value.field == field


def test_parse_flag_patch_cannot_change_the_key() -> None:
    current = parse_flag({"key": "new-nav"}, now=NOW)
    with pytest.raises(ValidationError) as info:
        parse_flag({"key": "old-nav"}, now=NOW, current=current)
    assert info.value.field == "key"


def test_parse_flag_patch_validates_enabled() -> None:
    current = parse_flag({"key": "new-nav"}, now=NOW)
    with pytest.raises(ValidationError) as info:
        parse_flag({"enabled": "yes"}, now=NOW, current=current)
    assert info.value.field == "enabled"


@pytest.mark.parametrize(
    ("enabled", "rollout", "expected"),
    [(False, 1.0, {False}), (True, 1.0, {True}), (True, 0.0, {False})],
    ids=["disabled", "rollout-1", "rollout-0"],
)
def test_flag_is_on(enabled: bool, rollout: float, expected: set[bool]) -> None:
    flag = Flag(key="new-nav", enabled=enabled, rollout=rollout)
    assert {flag.is_on(user) for user in IDS[:2000]} == expected


def test_flag_partial_rollout_turns_on_about_that_share() -> None:
    flag = Flag(key="new-nav", enabled=True, rollout=0.3)
    on = sum(flag.is_on(user) for user in IDS)
    # Binomial sd for n=10,000 and p=0.3 is about 46: ±230 is five sd.
    assert abs(on - 3000) < 230


def test_flag_round_trip() -> None:
    flag = replace(
        parse_flag({"key": "f", "enabled": True, "rollout": 0.5}, now=NOW), version=3
    )
    assert Flag.from_dict(json.loads(json.dumps(flag.to_dict())), 3) == flag


# --- old flags: stored before rules existed --------------------------------------

OLD = {
    "key": "nav",
    "enabled": True,
    "rollout": 0.3,
    "seed": "nav-seed",
    "description": "the nav",
    "updated_at": NOW,
    "version": 2,
}


def test_an_old_flag_loads_and_prints_exactly_as_before() -> None:
    flag = Flag.from_dict(OLD, 2)
    assert flag == Flag(
        key="nav",
        enabled=True,
        rollout=0.3,
        seed="nav-seed",
        description="the nav",
        updated_at=NOW,
        version=2,
    )
    assert flag.to_dict() == OLD
    assert (flag.value, flag.default, flag.rules, flag.requires) == (
        True,
        False,
        (),
        (),
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_an_old_flag_evaluates_as_before(enabled: bool) -> None:
    flag = Flag.from_dict({**OLD, "enabled": enabled})
    for user in IDS[:2000]:
        before = enabled and bucketing.in_rollout(user, "nav-seed", 0.3)
        decision = flag.evaluate(user)
        assert decision.value is before and flag.is_on(user) is before
        expected = Reason.FLAG_ON if before else Reason.NOT_IN_ROLLOUT
        assert decision.reason == (expected if enabled else Reason.FLAG_OFF)


# --- rules -------------------------------------------------------------------------

SEGMENTS = {
    "eu": Segment(key="eu", condition={"country": {"$in": ["DE", "FR"]}}),
    "beta": Segment(key="beta", values=tuple(f"user-{i}" for i in range(0, 100, 3))),
}


def rules_flag(**changes: Any) -> Flag:
    """A flag with each kind of rule; a PATCH-like ``changes`` applied."""
    body: dict[str, Any] = {
        "key": "theme",
        "enabled": True,
        "value": "blue",
        "default": "grey",
        "rollout": 0.5,
        "rules": [
            {"condition": {"plan": "pro"}, "segments": ["eu"], "force": "gold"},
            {"condition": {"id": {"$inGroup": "beta"}}, "force": {"a": [1, 2]}},
            {"condition": {"age": {"$gte": 18}}, "rollout": 0.2, "value": "green"},
            {"rollout": 0.1, "value": 7, "seed": "other"},
        ],
    }
    body.update(changes)
    return parse_flag(body, now=NOW)


def test_rules_serve_in_order_and_the_first_that_serves_wins() -> None:
    flag = rules_flag()
    pro_eu = {"plan": "pro", "country": "DE", "age": 30}
    assert flag.evaluate("user-0", pro_eu, segments=SEGMENTS) == ("gold", Reason.RULE)
    # user-0 is in beta too, but the first rule came first; without it, beta:
    no_plan = {"country": "DE", "age": 30}
    assert flag.evaluate("user-0", no_plan, segments=SEGMENTS) == (
        {"a": [1, 2]},
        Reason.RULE,
    )


def test_a_rollout_rule_serves_its_share_and_passes_the_rest_on() -> None:
    flag = rules_flag()
    adults = [flag.evaluate(u, {"age": 40}, segments=SEGMENTS) for u in IDS[200:]]
    green = [d for d in adults if d.value == "green"]
    # Binomial sd for n=9,800, p=0.2 is 40: ±200 is five sd.
    assert abs(len(green) - 0.2 * len(adults)) < 200
    assert {d.reason for d in green} == {Reason.RULE}
    rest = {(d.value, d.reason) for d in adults if d.value != "green"}
    assert rest == {
        (7, Reason.RULE),
        ("blue", Reason.FLAG_ON),
        ("grey", Reason.NOT_IN_ROLLOUT),
    }


def test_a_rollout_rule_hashes_like_the_base_rollout_with_its_seed() -> None:
    flag = rules_flag(rules=[{"rollout": 0.3, "value": "r", "seed": "s2"}])
    for user in IDS[:2000]:
        served = flag.evaluate(user).value == "r"
        assert served is bucketing.in_rollout(user, "s2", 0.3)
    unseeded = rules_flag(rules=[{"rollout": 0.3, "value": "r"}])
    for user in IDS[:2000]:
        assert (unseeded.evaluate(user).value == "r") is bucketing.in_rollout(
            user, "theme", 0.3
        )


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_a_growing_rollout_only_adds_users(share: float) -> None:
    def served(rollout: float) -> set[str]:
        flag = rules_flag(rules=[{"rollout": rollout, "value": "r"}], rollout=0)
        return {u for u in IDS if flag.evaluate(u).value == "r"}

    smaller, larger = served(share), served(share + 0.2)
    assert smaller < larger
    assert served(share) == smaller  # deterministic
    assert abs(len(larger) - (share + 0.2) * len(IDS)) < 250


def test_a_rule_with_a_missing_segment_serves_nobody() -> None:
    flag = rules_flag()
    attributes = {"plan": "pro", "country": "DE"}
    assert flag.evaluate("user-1", attributes, segments={}).value != "gold"


def test_a_disabled_flag_serves_its_default_whatever_the_rules() -> None:
    flag = rules_flag(enabled=False)
    pro_eu = {"plan": "pro", "country": "DE"}
    assert flag.evaluate("user-0", pro_eu, segments=SEGMENTS) == (
        "grey",
        Reason.FLAG_OFF,
    )


@pytest.mark.parametrize(
    ("value", "on"),
    [
        (True, True),
        (False, False),
        (None, False),
        (0, False),
        (0.0, False),
        (1, True),
        (-1.5, True),
        ("", False),
        ("0", True),
        ("false", True),
        ([], False),
        ([0], True),
        ({}, False),
        ({"a": None}, True),
    ],
)
def test_on_is_truthiness(value: Any, on: bool) -> None:
    flag = Flag(key="f", enabled=True, value=value, default="never")
    assert flag.evaluate("user-1") == FlagDecision(value, Reason.FLAG_ON)
    assert flag.is_on("user-1") is on and FlagDecision(value, Reason.RULE).on is on


# --- prerequisites -----------------------------------------------------------------


def chain(length: int) -> dict[str, Flag]:
    """f0 requires f1 requires ... f{length}: ``length`` links."""
    return {
        f"f{i}": Flag(
            key=f"f{i}",
            enabled=True,
            requires=(f"f{i + 1}",) if i < length else (),
        )
        for i in range(length + 1)
    }


def test_a_prerequisite_that_is_on_lets_the_flag_decide() -> None:
    flags = {
        "auth": Flag(key="auth", enabled=True, value="yes"),
        "nav": Flag(key="nav", enabled=True, value="v2", requires=("auth",)),
    }
    assert flags["nav"].evaluate("u", flags=flags) == ("v2", Reason.FLAG_ON)


@pytest.mark.parametrize(
    "auth",
    [
        Flag(key="auth", enabled=False),
        Flag(key="auth", enabled=True, rollout=0.0),
        Flag(key="auth", enabled=True, value=""),
        None,
    ],
    ids=["disabled", "outside-rollout", "falsy-value", "missing"],
)
def test_a_prerequisite_that_is_off_serves_the_default(auth: Flag | None) -> None:
    nav = Flag(key="nav", enabled=True, value="v2", default="v1", requires=("auth",))
    flags = {"nav": nav} if auth is None else {"nav": nav, "auth": auth}
    assert nav.evaluate("u", flags=flags) == ("v1", Reason.PREREQUISITE)


def test_is_on_without_flags_fails_closed_for_a_flag_with_prerequisites() -> None:
    nav = Flag(key="nav", enabled=True, requires=("auth",))
    assert not nav.is_on("u")
    assert nav.evaluate("u").reason == Reason.PREREQUISITE


def test_prerequisites_use_the_same_user_and_attributes() -> None:
    flags = {
        "pro": Flag(
            key="pro",
            enabled=True,
            rollout=0.0,
            rules=(Rule(Audience({"plan": "pro"}), True),),
        ),
        "nav": Flag(key="nav", enabled=True, requires=("pro",)),
    }
    assert flags["nav"].evaluate("u", {"plan": "pro"}, flags).on
    assert not flags["nav"].evaluate("u", {"plan": "free"}, flags).on


def test_a_chain_as_deep_as_the_limit_evaluates_and_a_deeper_one_fails_closed() -> None:
    flags = chain(MAX_PREREQUISITE_DEPTH)
    assert flags["f0"].evaluate("u", flags=flags) == (True, Reason.FLAG_ON)
    deeper = chain(MAX_PREREQUISITE_DEPTH + 1)
    assert deeper["f0"].evaluate("u", flags=deeper) == (False, Reason.PREREQUISITE)
    assert deeper["f1"].evaluate("u", flags=deeper).on


def test_a_cycle_stored_anyway_fails_closed_at_evaluation() -> None:
    flags = {
        "a": Flag(key="a", enabled=True, requires=("b",)),
        "b": Flag(key="b", enabled=True, requires=("a",)),
    }
    assert flags["a"].evaluate("u", flags=flags) == (False, Reason.PREREQUISITE)


def test_a_diamond_of_prerequisites_is_evaluated_once_per_flag() -> None:
    """Each level requires both flags of the next: 2**30 paths, 60 flags."""
    flags = {
        f"{side}{i}": Flag(
            key=f"{side}{i}",
            enabled=True,
            requires=(f"a{i + 1}", f"b{i + 1}") if i < 30 else (),
        )
        for i in range(31)
        for side in "ab"
    }
    compiled = compile_flags(flags, {})
    assert evaluate("a0", "u", {}, compiled) == (False, Reason.PREREQUISITE)
    assert evaluate("a21", "u", {}, compiled) == (True, Reason.FLAG_ON)
    assert evaluate("zz", "u", {}, compiled) == (None, Reason.UNKNOWN)


# --- parsing: rules, values, bounds --------------------------------------------------


def test_parse_flag_reads_rules_values_and_prerequisites() -> None:
    flag = rules_flag(requires=["auth", "nav"])
    assert flag.value == "blue" and flag.default == "grey"
    assert flag.requires == ("auth", "nav")
    assert flag.rules[0] == Rule(Audience({"plan": "pro"}, ("eu",)), "gold")
    assert flag.rules[3] == Rule(Audience(), 7, 0.1, "other")
    assert flag.segment_refs() == {"eu", "beta"}


def test_a_flag_with_rules_round_trips_through_json() -> None:
    flag = replace(rules_flag(requires=["auth"], default=None), version=5)
    data = json.loads(json.dumps(flag.to_dict()))
    assert Flag.from_dict(data, 5) == flag
    assert data["default"] is None and data["value"] == "blue"
    assert data["rules"][2] == {
        "condition": {"age": {"$gte": 18}},
        "rollout": 0.2,
        "value": "green",
    }


def test_patch_replaces_rules_and_keeps_the_rest() -> None:
    current = rules_flag(requires=["auth"])
    flag = parse_flag({"rules": [{"force": 1}]}, now=NOW, current=current)
    assert flag.rules == (Rule(Audience(), 1),)
    assert (flag.value, flag.default, flag.requires) == ("blue", "grey", ("auth",))
    cleared = parse_flag({"rules": None, "value": None}, now=NOW, current=flag)
    assert cleared.rules == () and cleared.value is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"value": "x" * MAX_VALUE_BYTES}, "value"),
        ({"default": float("nan")}, "default"),
        ({"rules": {"force": 1}}, "rules"),
        ({"rules": [{"force": 1}] * (MAX_RULES + 1)}, "rules"),
        ({"rules": [{"force": 1}, {"rollout": 2, "value": 1}]}, "rules[1].rollout"),
        ({"rules": [{"condition": {"plan": {"$in": "pro"}}, "force": 1}]},
         "rules[0].condition.plan.$in"),
        ({"rules": [{"segments": ["a b"], "force": 1}]}, "rules[0].segments[0]"),
        ({"requires": "auth"}, "requires"),
        ({"requires": [f"f{i}" for i in range(11)]}, "requires"),
        ({"requires": ["auth", "bad key"]}, "requires[1]"),
        ({"requires": ["auth", "auth"]}, "requires[1]"),
        ({"requires": ["theme"]}, "requires[0]"),
    ],
    ids=["value-too-big", "default-nan", "rules-object", "too-many-rules",
         "rule-rollout", "rule-condition", "rule-segment", "requires-string",
         "too-many-requires", "requires-bad-key", "requires-twice", "requires-self"],
)  # fmt: skip
def test_invalid_rules_and_values_name_the_path(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        rules_flag(**changes)
    assert info.value.field == field


# --- check_flag: against the saved flags and segments ------------------------------


def test_check_flag_accepts_known_prerequisites_and_segments() -> None:
    flags = chain(3)
    flag = rules_flag(requires=["f0"])
    check_flag(flag, flags, SEGMENTS)
    assert required_by("f2", flags) == ["f1"] and required_by("f0", flags) == []


@pytest.mark.parametrize(
    ("requires", "field", "message"),
    [
        (["x", "gone"], "requires[1]", "unknown flag 'gone'"),
        (["f2"], "requires[0]", "cycle of prerequisites: f3 → f2 → f3"),
        (["x", "f0"], "requires[1]", "cycle of prerequisites: f3 → f0 → f1 → f2 → f3"),
    ],
    ids=["unknown", "short-cycle", "long-cycle"],
)
def test_check_flag_rejects_unknown_and_cyclic_prerequisites(
    requires: list[str], field: str, message: str
) -> None:
    flags = {**chain(3), "x": Flag(key="x")}
    f3 = replace(flags["f3"], requires=tuple(requires))
    with pytest.raises(ValidationError, match=message) as info:
        check_flag(f3, flags, {})
    assert info.value.field == field


def test_check_flag_rejects_a_chain_deeper_than_evaluation_allows() -> None:
    flags = chain(MAX_PREREQUISITE_DEPTH - 1)
    last = f"f{MAX_PREREQUISITE_DEPTH - 1}"
    extra = Flag(key="extra")
    check_flag(replace(flags[last], requires=("extra",)), {**flags, "extra": extra}, {})
    deeper = {**flags, "extra": Flag(key="extra", requires=("bottom",))}
    deeper["bottom"] = Flag(key="bottom")
    with pytest.raises(ValidationError, match="chain of 11") as info:
        check_flag(replace(flags[last], requires=("extra",)), deeper, {})
    assert info.value.field == "requires[0]"


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"force": 1}, {"segments": ["gone"], "force": 2}], "rules[1].segments[0]"),
        ([{"segments": ["beta"], "force": 2}], "rules[0].segments[0]"),
        ([{"condition": {"id": {"$inGroup": "eu"}}, "force": 2}],
         "rules[0].condition.id.$inGroup"),
    ],
    ids=["unknown-segment", "list-segment-named", "condition-segment-as-group"],
)  # fmt: skip
def test_check_flag_names_the_rule_with_a_bad_segment(
    rules: list[dict[str, Any]], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        check_flag(rules_flag(rules=rules), {}, SEGMENTS)
    assert info.value.field == field


# --- GrowthBook's eval_feature on equivalent definitions ------------------------------


@functools.cache
def growthbook() -> tuple[Any, Any]:
    """``growthbook.core`` and ``growthbook.common_types``, without the package's
    HTTP client (its ``__init__`` imports aiohttp and cryptography)."""
    spec = importlib.util.find_spec("growthbook")
    assert spec is not None and spec.submodule_search_locations, (
        "growthbook is pinned in requirements-ref.txt: run make install"
    )
    try:
        importlib.import_module("growthbook")
    except ImportError:  # load the pure modules under a bare package
        package = types.ModuleType("growthbook")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["growthbook"] = package
    core = importlib.import_module("growthbook.core")
    return core, importlib.import_module("growthbook.common_types")


def as_growthbook_feature(flag: Flag, segments: dict[str, Segment], types_: Any) -> Any:
    """``flag`` as a GrowthBook feature: each rule a force rule (a rollout rule's
    share as ``coverage``), named segments folded into the condition, the base
    rollout a last force rule, ``requires`` as gating parent conditions."""
    if not flag.enabled:
        return types_.Feature(defaultValue=flag.default, rules=[])
    rules: list[dict[str, Any]] = []
    for rule in flag.rules:
        parts = [segments[name].condition for name in rule.audience.segments]
        if rule.audience.condition is not None:
            parts.append(rule.audience.condition)
        gb_rule: dict[str, Any] = {
            "force": rule.value,
            "hashVersion": 2,
            "seed": rule.seed or flag.seed,
        }
        if parts:
            gb_rule["condition"] = {"$and": parts}
        if rule.rollout is not None:
            gb_rule["coverage"] = rule.rollout
        rules.append(gb_rule)
    rules.append(
        {"force": flag.value, "coverage": flag.rollout, "hashVersion": 2,
         "seed": flag.seed}
    )  # fmt: skip
    if flag.requires:
        rules[0]["parentConditions"] = [
            {"id": name, "condition": {"value": True}, "gate": True}
            for name in flag.requires
        ]
    return types_.Feature(defaultValue=flag.default, rules=rules)


def growthbook_eval(
    key: str,
    attributes: dict[str, Any],
    features: dict[str, Any],
    segments: dict[str, Segment],
) -> Any:
    core, types_ = growthbook()
    context = types_.EvaluationContext(
        user=types_.UserContext(attributes=attributes),
        global_ctx=types_.GlobalContext(
            options=types_.Options(),
            features=features,
            saved_groups={
                k: list(s.values) for k, s in segments.items() if s.values is not None
            },
        ),
        stack=types_.StackContext(evaluated_features=set()),
    )
    return core.eval_feature(key, context)


CROSS_SEGMENTS = {
    "eu": Segment(key="eu", condition={"country": {"$in": ["DE", "FR", "IT"]}}),
    "adult": Segment(key="adult", condition={"age": {"$gte": 18}}),
    "beta": Segment(key="beta", values=tuple(f"user-{i}" for i in range(0, 2000, 7))),
}
CROSS_FLAGS = {
    f.key: f
    for f in (
        parse_flag({"key": "auth", "enabled": True, "rollout": 0.8}, now=NOW),
        parse_flag(
            {"key": "nav", "enabled": True, "rollout": 0.5, "requires": ["auth"],
             "rules": [{"condition": {"plan": "pro"}, "force": True}]},
            now=NOW,
        ),
        parse_flag({"key": "gone", "enabled": False, "value": "x"}, now=NOW),
        parse_flag(
            {"key": "theme", "enabled": True, "value": "blue", "default": "grey",
             "rollout": 0.35, "requires": ["nav"],
             "rules": [
                 {"segments": ["eu", "adult"], "condition": {"plan": "pro"},
                  "force": "gold"},
                 {"condition": {"id": {"$inGroup": "beta"}}, "rollout": 0.5,
                  "value": {"shade": [1, 2]}, "seed": "beta-seed"},
                 {"condition": {"$or": [{"country": "US"},
                                        {"age": {"$exists": True, "$lt": 16}}]},
                  "rollout": 0.2, "value": "green"},
                 {"rollout": 0.0999, "value": 42},
             ]},
            now=NOW,
        ),
        parse_flag(
            {"key": "price", "enabled": True, "value": {"tier": 2},
             "default": {"tier": 1}, "rollout": 0.6,
             "rules": [{"segments": ["eu"], "rollout": 0.25, "value": {"tier": 3}},
                       {"condition": {"plan": {"$in": ["pro", "team"]}},
                        "force": [1, "two"]}]},
            now=NOW,
        ),
        parse_flag(
            {"key": "after-gone", "enabled": True, "requires": ["gone"],
             "default": "fallback", "value": "on"},
            now=NOW,
        ),
    )
}  # fmt: skip


# "$exists" beside "$lt": GrowthBook 4.0 no longer orders a missing attribute as
# 0 (its conditions changed; ours follow the cross-SDK suite). Conditions have
# their own tests: here they are ones both engines agree on.


def random_attributes(rng: random.Random, user_id: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"id": user_id}
    if rng.random() < 0.9:
        attributes["country"] = rng.choice(["DE", "FR", "IT", "US", "GB", "JP"])
    if rng.random() < 0.8:
        attributes["plan"] = rng.choice(["free", "pro", "team"])
    if rng.random() < 0.8:
        attributes["age"] = rng.randint(10, 70)
    return attributes


def test_flags_serve_what_growthbook_serves_for_2000_users() -> None:
    """Same values for every user and flag; GrowthBook's gating prerequisite
    serves null where we serve the flag's ``default`` (a deliberate difference,
    see ``core.flag``), so there its null stands for our default."""
    _, types_ = growthbook()
    features = {
        k: as_growthbook_feature(f, CROSS_SEGMENTS, types_)
        for k, f in CROSS_FLAGS.items()
    }
    rng = random.Random(12)
    sources: dict[Reason, set[str]] = {}
    for i in range(2000):
        user = f"user-{i}"
        attributes = random_attributes(rng, user)
        for key, flag in CROSS_FLAGS.items():
            ours = flag.evaluate(user, attributes, CROSS_FLAGS, CROSS_SEGMENTS)
            theirs = growthbook_eval(key, attributes, features, CROSS_SEGMENTS)
            expected = flag.default if theirs.source == "prerequisite" else theirs.value
            assert ours.value == expected, (key, user, attributes, theirs.source)
            sources.setdefault(ours.reason, set()).add(theirs.source)
    assert sources == {
        Reason.FLAG_ON: {"force"},
        Reason.RULE: {"force"},
        Reason.NOT_IN_ROLLOUT: {"defaultValue"},
        Reason.FLAG_OFF: {"defaultValue"},
        Reason.PREREQUISITE: {"prerequisite"},
    }


def test_growthbook_shares_are_half_open_too() -> None:
    """A user whose hash equals the share exactly is outside it in both."""
    _, types_ = growthbook()
    users = (f"edge-{i}" for i in range(1_000_000))
    user = next(u for u in users if bucketing.bucket_hash("edge", u, 2) == 0.25)
    flag = Flag(key="edge", enabled=True, rollout=0.25)
    feature = as_growthbook_feature(flag, {}, types_)
    theirs = growthbook_eval("edge", {"id": user}, {"edge": feature}, {})
    assert flag.evaluate(user).value is False and theirs.value is False


@pytest.mark.parametrize("value", [[], {}])
def test_empty_lists_and_objects_are_off_unlike_growthbook_4(value: Any) -> None:
    """Deliberate: Python truthiness, as GrowthBook's Python SDK before 4.0;
    GrowthBook 4.0 took JavaScript's, where [] and {} are on."""
    _, types_ = growthbook()
    assert not FlagDecision(value, Reason.FLAG_ON).on
    assert types_.FeatureResult(value, "force").on


def test_a_null_force_serves_null_where_growthbook_skips_the_rule() -> None:
    """Deliberate: ``{"force": null}`` is a value like any other here."""
    _, types_ = growthbook()
    flag = parse_flag({"key": "n", "enabled": True, "rules": [{"force": None}]}, NOW)
    feature = as_growthbook_feature(flag, {}, types_)
    assert flag.evaluate("u") == (None, Reason.RULE)
    assert growthbook_eval("n", {"id": "u"}, {"n": feature}, {}).value is True
