"""Compiled conditions answer exactly as ``core.conditions.eval_condition``.

On GrowthBook's cross-SDK ``evalCondition`` cases, and on random conditions
over random attributes (the shortcuts' edge cases: booleans beside numbers,
lists, nulls, dotted paths, a mapping that is not a dict).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from abflask.core.conditions import eval_condition
from abflask.core.segment import Segment
from abflask.core.targeting import NOBODY, Audience, resolve
from abflask.sdk.compiled import compile_condition, compile_target

DATA = Path(__file__).resolve().parent.parent / "core" / "data"
CASES = json.loads((DATA / "growthbook-evalCondition.json").read_text("utf-8"))[
    "evalCondition"
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_growthbook_cases_answer_as_core(case: list[Any]) -> None:
    _, condition, attributes, expected = case[:4]
    groups = case[4] if len(case) > 4 else {}
    compiled = compile_condition(condition, groups)
    assert compiled(attributes) is eval_condition(attributes, condition, groups)
    assert compiled(attributes) is expected


VALUES: list[Any] = [
    None, True, False, 0, 1, 1.0, 2, -3.5, "", "1", "pro", "PRO", "free", "DE",
    "2.3.0", "2.10.1", "v2.3.0", "1.0.0-rc.1", [], ["pro"], ["DE", "FR"], [1, True],
    {}, {"a": 1},
]  # fmt: skip
PATHS = ["plan", "country", "version", "n", "nested.a", "tags.0", "id", "missing"]
OPERATORS = [
    "$eq", "$ne", "$in", "$nin", "$exists", "$gt", "$gte", "$lt", "$lte", "$veq",
    "$vne", "$vgt", "$vgte", "$vlt", "$vlte", "$size", "$type", "$regex", "$all",
    "$elemMatch", "$inGroup", "$notInGroup", "$unknown",
]  # fmt: skip


def random_argument(rng: random.Random, op: str) -> Any:
    if op in ("$in", "$nin", "$all"):
        if rng.random() < 0.1:
            return rng.choice(VALUES)  # not a list: false in core
        return rng.sample([v for v in VALUES if not isinstance(v, list | dict)], 4)
    if op in ("$inGroup", "$notInGroup"):
        return rng.choice(["beta", "nobody", 3])
    if op == "$type":
        return rng.choice(["string", "number", "null", "array", "boolean"])
    if op == "$regex":
        return rng.choice(["^p", "E$", "[0-9]"])
    if op == "$elemMatch":
        return {"$eq": rng.choice(VALUES)}
    return rng.choice(VALUES)


def random_condition(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    condition: dict[str, Any] = {}
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if depth < 3 and roll < 0.15:
            logic = rng.choice(["$and", "$or", "$nor"])
            count = rng.randint(0, 3)
            condition[logic] = [random_condition(rng, depth + 1) for _ in range(count)]
        elif depth < 3 and roll < 0.2:
            condition["$not"] = random_condition(rng, depth + 1)
        elif roll < 0.35:
            condition[rng.choice(PATHS)] = rng.choice(VALUES)  # a value to equal
        else:
            ops = rng.sample(OPERATORS, rng.choice([1, 1, 1, 2]))
            condition[rng.choice(PATHS)] = {op: random_argument(rng, op) for op in ops}
    return condition


def random_attributes(rng: random.Random) -> Any:
    attributes = {p: rng.choice(VALUES) for p in PATHS[:4] if rng.random() < 0.8}
    if rng.random() < 0.5:
        attributes["nested"] = {"a": rng.choice(VALUES)}
    if rng.random() < 0.5:
        attributes["tags"] = rng.sample(["a", "b", 1, None], 2)
    if rng.random() < 0.2:
        return MappingProxyType(attributes)  # a Mapping that is not a dict
    return attributes


def test_random_conditions_answer_as_core() -> None:
    rng = random.Random(2026)
    groups = {"beta": ["pro", 1, "DE"]}
    outcomes = set()
    for _ in range(3000):
        condition = random_condition(rng)
        compiled = compile_condition(condition, groups)
        for _ in range(10):
            attributes = random_attributes(rng)
            try:
                expected: Any = eval_condition(attributes, condition, groups)
            except Exception as exc:  # core raises: so must the closure
                expected = type(exc)
                with pytest.raises(expected):
                    compiled(attributes)
            else:
                assert compiled(attributes) is expected, (condition, attributes)
            outcomes.add(expected)
    assert {True, False} <= outcomes


def test_deep_conditions_are_left_to_core() -> None:
    condition: dict[str, Any] = {"plan": "pro"}
    for _ in range(2000):
        condition = {"$not": {"$not": condition}}
    compiled = compile_condition(condition, {})
    assert compiled({"plan": "pro"}) is eval_condition({"plan": "pro"}, condition)


def test_targets_compile_with_their_segments() -> None:
    segments = {
        "eu": Segment(key="eu", condition={"country": {"$in": ["DE", "FR"]}}),
        "beta": Segment(key="beta", values=("u-1", "u-2")),
    }
    audience = Audience({"id": {"$inGroup": "beta"}, "plan": "pro"}, ("eu",))
    target = resolve(audience, segments)
    assert target is not None
    compiled = compile_target(target)
    people = [
        {"id": user, "country": country, "plan": plan}
        for user in ("u-1", "u-3")
        for country in ("DE", "US")
        for plan in ("pro", "free")
    ]
    assert [compiled.test(p) for p in people] == [target.test(p) for p in people]
    assert sum(compiled.test(p) for p in people) == 1
    assert compile_target(NOBODY).test({"id": "u-1"}) is False
    missing = resolve(Audience(segments=("gone",)), segments)
    assert missing is not None and compile_target(missing).test({}) is False
