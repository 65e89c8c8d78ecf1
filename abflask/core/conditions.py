"""Targeting conditions in GrowthBook's syntax: evaluate, validate, bound.

``eval_condition`` is GrowthBook's ``evalCondition`` and passes every case of its
cross-SDK suite (``tests/core/data/growthbook-evalCondition.json``). A condition
maps attribute paths (``"a.b.c"``; a part of digits indexes a list, as in the
JavaScript SDK) to a value to equal or to an object of operators, and ``$and
$or $nor $not`` combine conditions. Operators: ``$eq $ne $lt $lte $gt $gte``,
``$in $nin`` and case-insensitive ``$ini $nini`` (these intersect when the
attribute is a list), ``$all $alli $elemMatch $size $exists $type``, ``$regex
$regexi``, ``$not``, ``$veq $vne $vgt $vgte $vlt $vlte`` (``versions``) and
``$inGroup $notInGroup`` (saved groups). An unknown operator, or an argument
of the wrong type (``$in`` not a list), is false, as in GrowthBook.

Where GrowthBook's SDKs differ: ``$eq $ne $in $nin`` and groups use strict
JSON equality (``1`` is not ``true``, ``"8"`` is not ``8``), so ``$ne`` holds
for a missing attribute, and ``{}`` is a value, not an empty operator object,
as in JavaScript; ``$elemMatch`` tests falsy items too, ``$regex`` matches
strings only and plain equality is ``==``, as in Python. Ordering (``$lt`` ...)
is GrowthBook's ``compare``: a number against a numeric string or null
compares as numbers (null is 0); other mixed types never match.

Regex cost is bounded by ``abflask.core.regexes`` (a pattern is searched on the
first ``regexes.MAX_REGEX_INPUT`` characters only and must pass its safety rules).
Pure, stdlib only.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

from abflask.core import regexes
from abflask.core.fields import fail
from abflask.core.versions import compare_versions

__all__ = ["check_attributes", "eval_condition", "validate_condition"]

MAX_CONDITION_DEPTH = 10
"""JSON nesting levels in a condition: it is level 1, and each object or list
inside adds one (``{"$or": [{"a": {"$in": [1]}}]}`` has 5)."""
MAX_CONDITION_BYTES = 16 * 1024
"""Bytes of a condition as compact UTF-8 JSON."""
MAX_IN_LIST = 1000
"""Items in an ``$in $nin $ini $nini $all $alli`` list."""
TYPE_NAMES = frozenset({"string", "number", "boolean", "array", "object", "null"})
"""``$type`` arguments: the names GrowthBook's getType gives JSON values."""

MAX_ATTRIBUTE_KEYS = 50
"""Top-level keys in a user's attributes."""
MAX_ATTRIBUTE_KEY = 64
"""Characters in an attribute key, at any level."""
MAX_ATTRIBUTE_DEPTH = 4
"""JSON nesting levels in attributes (the attributes object is level 1)."""
MAX_ATTRIBUTE_STRING = 1024
"""Characters in an attribute string."""
MAX_ATTRIBUTE_LIST = 100
"""Items in an attribute list."""
MAX_ATTRIBUTE_BYTES = 8 * 1024
"""Bytes of the attributes as compact UTF-8 JSON."""

Groups = Mapping[str, Sequence[Any]]
_Op = Callable[[Any, Any, Groups], bool]
_INDEX = re.compile(r"0|[1-9][0-9]*")
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# --- evaluation -------------------------------------------------------------


def eval_condition(
    attributes: Mapping[str, Any],
    condition: Mapping[str, Any],
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
) -> bool:
    """True when ``attributes`` satisfy ``condition`` (GrowthBook's evalCondition).

    ``saved_groups`` maps a group id to its members, for ``$inGroup`` and
    ``$notInGroup``. A malformed condition does not raise: it is false.
    """
    try:
        return _eval(
            attributes, condition, {} if saved_groups is None else saved_groups
        )
    except RecursionError:  # only an unvalidated condition nests this deeply
        return False


def _eval(obj: Any, condition: Any, groups: Groups) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for key, value in condition.items():
        logic = _LOGIC.get(key)
        if logic is not None:
            if not logic(obj, value, groups):
                return False
        elif not _eval_value(value, _get_path(obj, key), groups):
            return False
    return True


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_LOGIC: dict[str, _Op] = {
    "$or": lambda o, v, g: _is_list(v) and (not v or any(_eval(o, c, g) for c in v)),
    "$nor": lambda o, v, g: (
        _is_list(v) and bool(v) and not any(_eval(o, c, g) for c in v)
    ),
    "$and": lambda o, v, g: _is_list(v) and all(_eval(o, c, g) for c in v),
    "$not": lambda o, v, g: isinstance(v, Mapping) and not _eval(o, v, g),
}


def _get_path(obj: Any, path: Any) -> Any:
    """The value at dotted ``path``, or None when any part is missing."""
    if not isinstance(path, str):
        return None
    for part in path.split("."):
        if isinstance(obj, Mapping) and part in obj:
            obj = obj[part]
        elif _is_list(obj) and _INDEX.fullmatch(part) and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _is_operator_object(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def _eval_value(expected: Any, actual: Any, groups: Groups, fold: bool = False) -> bool:
    """``actual`` against an operator object, else equal to ``expected``."""
    if _is_operator_object(expected):
        return all(
            op in _OPERATORS and _OPERATORS[op](actual, arg, groups)
            for op, arg in expected.items()
        )
    if fold and isinstance(expected, str) and isinstance(actual, str):
        return expected.lower() == actual.lower()
    return bool(expected == actual)


def _same(a: Any, b: Any) -> bool:
    """Strict JSON equality: ``True`` is not ``1``, ``"8"`` is not ``8``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if _is_list(a) and _is_list(b):
        return len(a) == len(b) and all(map(_same, a, b))
    return a is None and b is None


def _to_number(value: Any) -> Any:
    """``value`` as a number, to compare with a number; None when it has none."""
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        return float(value)
    return None


def _compare(a: Any, b: Any) -> int | None:
    """GrowthBook's compare: -1, 0 or 1, or None when the two have no order."""
    if _is_number(a) != _is_number(b):
        a, b = (a, _to_number(b)) if _is_number(a) else (_to_number(a), b)
    elif not _is_number(a) and not (type(a) is type(b) and isinstance(a, str | bool)):
        return None
    if a is None or b is None or a != a or b != b:  # no number, or NaN
        return None
    return int((a > b) - (a < b))


def _member(value: Any, options: Sequence[Any], fold: bool) -> bool:
    if fold and isinstance(value, str):
        low = value.lower()
        return any(isinstance(o, str) and o.lower() == low for o in options)
    if type(value) is str:  # str's == is already strict, and runs in C
        return value in options
    return any(_same(value, o) for o in options)


def _is_in(actual: Any, options: Any, fold: bool = False) -> bool:
    """``actual`` (or, when it is a list, any of its items) is in ``options``."""
    items = actual if _is_list(actual) else (actual,)
    return any(_member(item, options, fold) for item in items)


def _in_group(actual: Any, group: Any, groups: Groups) -> bool | None:
    """Membership of saved group ``group``; None when there is no such group."""
    if not isinstance(group, str) or group not in groups:
        return None
    return _is_in(actual, groups[group] or ())


def _all(actual: Any, expected: Any, groups: Groups, fold: bool) -> bool:
    if not _is_list(expected) or not _is_list(actual):
        return False
    return all(any(_eval_value(e, a, groups, fold) for a in actual) for e in expected)


def _elem_match(actual: Any, expected: Any, groups: Groups) -> bool:
    if not _is_list(actual) or not isinstance(expected, Mapping):
        return False
    if _is_operator_object(expected):
        return any(_eval_value(expected, item, groups) for item in actual)
    return any(_eval(item, expected, groups) for item in actual)


_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"),
    (bool, "boolean"),
    ((int, float), "number"),
    (str, "string"),
    ((list, tuple), "array"),
    (Mapping, "object"),
)


def _type_name(value: Any) -> str:
    return next((name for kind, name in _TYPES if isinstance(value, kind)), "unknown")


def _regex(actual: Any, pattern: Any, flags: int) -> bool:
    if not isinstance(actual, str) or not isinstance(pattern, str):
        return False
    return regexes.search(pattern, flags, actual)


_OPERATORS: dict[str, _Op] = {
    "$eq": lambda a, e, g: _same(a, e),
    "$ne": lambda a, e, g: not _same(a, e),
    "$lt": lambda a, e, g: _compare(a, e) == -1,
    "$lte": lambda a, e, g: _compare(a, e) in (-1, 0),
    "$gt": lambda a, e, g: _compare(a, e) == 1,
    "$gte": lambda a, e, g: _compare(a, e) in (0, 1),
    "$veq": lambda a, e, g: compare_versions(a, e) == 0,
    "$vne": lambda a, e, g: compare_versions(a, e) != 0,
    "$vlt": lambda a, e, g: compare_versions(a, e) < 0,
    "$vlte": lambda a, e, g: compare_versions(a, e) <= 0,
    "$vgt": lambda a, e, g: compare_versions(a, e) > 0,
    "$vgte": lambda a, e, g: compare_versions(a, e) >= 0,
    "$in": lambda a, e, g: _is_list(e) and _is_in(a, e),
    "$nin": lambda a, e, g: _is_list(e) and not _is_in(a, e),
    "$ini": lambda a, e, g: _is_list(e) and _is_in(a, e, fold=True),
    "$nini": lambda a, e, g: _is_list(e) and not _is_in(a, e, fold=True),
    "$inGroup": lambda a, e, g: _in_group(a, e, g) is True,
    "$notInGroup": lambda a, e, g: isinstance(e, str) and not _in_group(a, e, g),
    "$all": lambda a, e, g: _all(a, e, g, fold=False),
    "$alli": lambda a, e, g: _all(a, e, g, fold=True),
    "$elemMatch": _elem_match,
    "$size": lambda a, e, g: _is_list(a) and _eval_value(e, len(a), g),
    "$exists": lambda a, e, g: (a is not None) == bool(e),
    "$type": lambda a, e, g: _type_name(a) == e,
    "$not": lambda a, e, g: not _eval_value(e, a, g),
    "$regex": lambda a, e, g: _regex(a, e, 0),
    "$regexi": lambda a, e, g: _regex(a, e, re.IGNORECASE),
}


# --- validation -------------------------------------------------------------


class _Limits(NamedTuple):
    depth: int
    key: int = sys.maxsize
    string: int = sys.maxsize
    items: int = sys.maxsize


def _check_json(value: Any, path: str, limits: _Limits) -> None:
    """Plain JSON within ``limits``; raises naming the first offending part."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        node, where, level = stack.pop()
        if isinstance(node, dict | list) and level > limits.depth:
            raise fail(where, f"nested deeper than {limits.depth} levels")
        if isinstance(node, dict):
            for key in node:
                _need(isinstance(key, str), where, "keys must be strings")
                if len(key) > limits.key:
                    raise fail(
                        where, f"key {key[:16]!r}... is over {limits.key} characters"
                    )
            stack.extend((node[k], f"{where}.{k}", level + 1) for k in reversed(node))
        elif isinstance(node, list):
            _need(
                len(node) <= limits.items,
                where,
                f"must have at most {limits.items} items",
            )
            children = enumerate(node)
            stack.extend(
                (v, f"{where}[{i}]", level + 1) for i, v in reversed(list(children))
            )
        elif isinstance(node, str):
            _need(
                len(node) <= limits.string,
                where,
                f"must be at most {limits.string} characters",
            )
        elif isinstance(node, float):
            _need(math.isfinite(node), where, "must be a finite number")
        elif node is not None and not isinstance(node, int):
            raise fail(
                where, "must be an object, list, string, number, boolean or null"
            )


def _json_bytes(value: Any) -> int:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))


def _need(ok: bool, path: str, message: str) -> None:
    if not ok:
        raise fail(path, message)


def validate_condition(
    condition: Any, path: str = "condition", groups: Collection[str] | None = None
) -> dict[str, Any]:
    """``condition`` when it is a well-formed, bounded and safe condition.

    Raises ``ValidationError`` naming the offending part, e.g.
    ``condition.$or[1].plan`` or ``condition.country.$regex``. When ``groups``
    is given, ``$inGroup``/``$notInGroup`` must name one of them.
    """
    if not isinstance(condition, dict):
        raise fail(path, "must be a JSON object")
    _check_json(condition, path, _Limits(MAX_CONDITION_DEPTH))
    size = _json_bytes(condition)
    _need(
        size <= MAX_CONDITION_BYTES,
        path,
        f"must be at most {MAX_CONDITION_BYTES} bytes as JSON",
    )
    _check_condition(condition, path, groups)
    return condition


def _check_condition(condition: Any, path: str, groups: Collection[str] | None) -> None:
    _need(isinstance(condition, dict), path, "must be a JSON object")
    for key, value in condition.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or", "$nor"):
            _need(isinstance(value, list), where, "must be a list of conditions")
            for i, item in enumerate(value):
                _check_condition(item, f"{where}[{i}]", groups)
        elif key == "$not":
            _check_condition(value, where, groups)
        elif key.startswith("$"):
            raise fail(where, "unknown operator (an attribute cannot start with $)")
        else:
            _check_field(value, where, groups)


def _check_field(value: Any, path: str, groups: Collection[str] | None) -> None:
    """A value to equal, or a non-empty object of known, well-typed operators."""
    if not isinstance(value, dict) or any(not k.startswith("$") for k in value):
        _check_literal(value, path)
        return
    _need(bool(value), path, "must not be an empty object")
    for op, arg in value.items():
        _check_operator(op, arg, f"{path}.{op}", groups)


def _check_literal(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _need(not key.startswith("$"), f"{path}.{key}", "operator inside a value")
            _check_literal(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_literal(item, f"{path}[{i}]")


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


_SIMPLE: dict[str, tuple[Callable[[Any], bool], str]] = {
    **dict.fromkeys(
        ["$lt", "$lte", "$gt", "$gte"],
        (lambda a: _is_number(a) or isinstance(a, str), "must be a number or a string"),
    ),
    **dict.fromkeys(
        ["$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"],
        (_is_text, "must be a version string"),
    ),
    **dict.fromkeys(
        ["$inGroup", "$notInGroup"], (_is_text, "must be a saved group id")
    ),
    "$exists": (lambda a: isinstance(a, bool), "must be true or false"),
    "$type": (
        lambda a: isinstance(a, str) and a in TYPE_NAMES,
        f"must be one of {', '.join(sorted(TYPE_NAMES))}",
    ),
}


def _check_operator(
    op: str, arg: Any, path: str, groups: Collection[str] | None
) -> None:
    simple = _SIMPLE.get(op)
    if simple is not None:
        _need(simple[0](arg), path, simple[1])
        if op in ("$inGroup", "$notInGroup") and groups is not None:
            _need(arg in groups, path, f"unknown saved group {arg!r}")
    elif op in ("$eq", "$ne"):
        _check_literal(arg, path)
    elif op in ("$in", "$nin", "$ini", "$nini", "$all", "$alli"):
        _check_list(op, arg, path, groups)
    elif op in ("$regex", "$regexi"):
        _need(isinstance(arg, str), path, "must be a string")
        problem = regexes.problem(arg, re.IGNORECASE if op == "$regexi" else 0)
        _need(problem is None, path, str(problem))
    elif op == "$elemMatch":
        _need(isinstance(arg, dict) and bool(arg), path, "must be a non-empty object")
        check = _check_field if _is_operator_object(arg) else _check_condition
        check(arg, path, groups)
    elif op in ("$not", "$size") and _is_operator_object(arg):
        _check_field(arg, path, groups)
    elif op == "$size":
        _need(
            type(arg) is int and arg >= 0,
            path,
            "must be an integer >= 0 or an object of operators",
        )
    else:
        _need(op != "$not", path, "must be an object of operators")
        raise fail(path, "unknown operator")


def _check_list(op: str, arg: Any, path: str, groups: Collection[str] | None) -> None:
    ok = isinstance(arg, list) and len(arg) <= MAX_IN_LIST
    _need(ok, path, f"must be a list of at most {MAX_IN_LIST} items")
    for i, item in enumerate(arg):
        if op.startswith("$all"):  # items are values or operator objects
            _check_field(item, f"{path}[{i}]", groups)
        else:
            _need(not isinstance(item, dict | list), f"{path}[{i}]", "must be a scalar")


def check_attributes(raw: Any, path: str = "attributes") -> dict[str, Any]:
    """``raw`` when it is a JSON object within the ``MAX_ATTRIBUTE_*`` bounds.

    Raises ``ValidationError`` naming the offending part (``attributes.tags[3]``).
    """
    if not isinstance(raw, dict):
        raise fail(path, "must be a JSON object")
    _need(
        len(raw) <= MAX_ATTRIBUTE_KEYS,
        path,
        f"must have at most {MAX_ATTRIBUTE_KEYS} keys",
    )
    limits = _Limits(
        MAX_ATTRIBUTE_DEPTH, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_STRING, MAX_ATTRIBUTE_LIST
    )
    _check_json(raw, path, limits)
    size = _json_bytes(raw)
    _need(
        size <= MAX_ATTRIBUTE_BYTES,
        path,
        f"must be at most {MAX_ATTRIBUTE_BYTES} bytes as JSON",
    )
    return raw
