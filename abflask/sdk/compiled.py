"""Targeting conditions compiled once per snapshot, so a decision only calls closures.

``core.conditions.eval_condition`` interprets a condition on every call: it
looks up each key among the logic operators, checks whether each value is an
object of operators, splits each path and dispatches each operator by name.
``compile_condition`` does that work once, when a snapshot is decoded, and
returns a closure that answers exactly as ``eval_condition`` does: it calls
core's own operator functions, and takes a shortcut only where the answer is
provably the same (a string tested against ``$in`` strings through a set, a
string ``$eq``, version operators against a version padded once). Anything
else (``$elemMatch``, ``$regex``, groups, dotted paths) goes to core as is.
Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from abflask.core.conditions import (
    _OPERATORS,
    _get_path,
    _is_in,
    _is_list,
    _is_operator_object,
    eval_condition,
)
from abflask.core.targeting import Target
from abflask.core.versions import padded_version

Test = Callable[[Any], bool]
"""A compiled condition (of attributes) or operator test (of one value)."""
VERSION_CACHE = 4096
"""Padded version strings remembered per compiled version operator."""
MAX_UNGUARDED_DEPTH = 32
"""JSON levels of a condition compiled into closures; a deeper one (never
saved: the service allows 10) is left to ``eval_condition``, which turns a
``RecursionError`` into False."""

_VERSION_TESTS: dict[str, Callable[[bytes, bytes], bool]] = {
    "$veq": lambda a, b: a == b,
    "$vne": lambda a, b: a != b,
    "$vgt": lambda a, b: a > b,
    "$vgte": lambda a, b: a >= b,
    "$vlt": lambda a, b: a < b,
    "$vlte": lambda a, b: a <= b,
}
"""``compare_versions(a, b) <op> 0`` on the UTF-16 encodings it compares."""


def _never(_: Any) -> bool:
    return False


def _always(_: Any) -> bool:
    return True


class CompiledTarget(Target):
    """A ``Target`` whose ``test`` runs its conditions compiled: same answers.

    A subclass, so that core's flag evaluation and ``WireExperiment`` take it
    where they take a ``Target``. Each instance's ``test`` is the compiled
    closure itself (it shadows this method): one call fewer per decision.
    """

    def test(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a user with ``attributes`` is in the audience."""
        return Target.test(self, attributes)  # shadowed on every instance


def compile_target(target: Target) -> CompiledTarget:
    """``target`` with each condition compiled (a missing segment: nobody)."""
    compiled = CompiledTarget(*target)
    check: Test = _never
    if target.possible:
        tests = [compile_condition(c, target.groups) for c in target.conditions]
        check = _conjunction(tests)
    object.__setattr__(compiled, "test", check)
    return compiled


def compile_condition(
    condition: Mapping[str, Any], groups: Mapping[str, Sequence[Any]]
) -> Test:
    """A closure answering ``eval_condition(attributes, condition, groups)``."""
    try:
        if _depth(condition) > MAX_UNGUARDED_DEPTH:
            raise RecursionError("left to core")
        return _condition(condition, groups)
    except Exception:  # absurdly deep or odd: core interprets it, as it would
        return lambda attributes: eval_condition(attributes, condition, groups)


def _depth(value: Any) -> int:
    """JSON nesting levels of ``value`` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, Mapping):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((v, level + 1) for v in node)
        else:
            continue
        deepest = max(deepest, level)
    return deepest


def _conjunction(tests: list[Test]) -> Test:
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda obj: first(obj) and second(obj)

    def every(obj: Any) -> bool:
        for test in tests:
            if not test(obj):
                return False
        return True

    return every


def _condition(condition: Any, groups: Mapping[str, Sequence[Any]]) -> Test:
    """``core.conditions._eval(obj, condition, groups)`` as a closure."""
    if not isinstance(condition, Mapping):
        return _never
    tests = [_clause(key, value, groups) for key, value in condition.items()]
    return _conjunction(tests)


def _clause(key: str, value: Any, groups: Mapping[str, Sequence[Any]]) -> Test:
    if key in ("$or", "$nor", "$and"):
        if not _is_list(value) or (key == "$nor" and not value):
            return _never
        if key == "$or" and not value:
            return _always
        parts = [_condition(c, groups) for c in value]
        if key == "$and":
            return _conjunction(parts)
        if key == "$or":
            return lambda obj: any(part(obj) for part in parts)
        return lambda obj: not any(part(obj) for part in parts)
    if key == "$not":
        if not isinstance(value, Mapping):
            return _never
        inner = _condition(value, groups)
        return lambda obj: not inner(obj)
    if not isinstance(key, str) or "." in key:
        test = _value(value, groups)
        return lambda obj: test(_get_path(obj, key))
    # _get_path of a one-part path: a dict answers .get (None if absent).
    if _is_operator_object(value) and len(value) == 1:
        ((op, arg),) = value.items()
        if op == "$in" and _is_list(arg):
            return _in_clause(key, arg)
        if op == "$eq" and type(arg) is str:
            return _eq_clause(key, arg)
    test = _value(value, groups)

    def clause(obj: Any) -> bool:
        if type(obj) is dict:
            return test(obj.get(key))
        return test(_get_path(obj, key))

    return clause


def _in_clause(key: str, options: Sequence[Any]) -> Test:
    """``{key: {"$in": options}}``, fused (see ``_membership``)."""
    texts = frozenset(o for o in options if isinstance(o, str))

    def clause(obj: Any) -> bool:
        a = obj.get(key) if type(obj) is dict else _get_path(obj, key)
        if type(a) is str:
            return a in texts
        return _is_in(a, options)

    return clause


def _eq_clause(key: str, text: str) -> Test:
    """``{key: {"$eq": text}}``, fused (see ``_operator``)."""

    def clause(obj: Any) -> bool:
        a = obj.get(key) if type(obj) is dict else _get_path(obj, key)
        return isinstance(a, str) and a == text

    return clause


def _value(expected: Any, groups: Mapping[str, Sequence[Any]]) -> Test:
    """``core.conditions._eval_value(expected, actual, groups)`` as a closure."""
    if not _is_operator_object(expected):
        return lambda actual: bool(expected == actual)
    # In order, as core's all(): an unknown operator is false where it stands.
    return _conjunction([_operator(op, arg, groups) for op, arg in expected.items()])


def _operator(op: str, arg: Any, groups: Mapping[str, Sequence[Any]]) -> Test:
    if op not in _OPERATORS:
        return _never
    if op in ("$in", "$nin"):
        return _membership(arg, negate=op == "$nin")
    if op in ("$eq", "$ne") and type(arg) is str:
        # core's _same(a, text) is True exactly when a is a str equal to it.
        if op == "$eq":
            return lambda a: isinstance(a, str) and a == arg
        return lambda a: not (isinstance(a, str) and a == arg)
    if op == "$exists":
        wanted = bool(arg)
        return lambda a: (a is not None) == wanted
    if op in _VERSION_TESTS:
        return _version(_VERSION_TESTS[op], arg)
    function = _OPERATORS[op]
    return lambda a: function(a, arg, groups)


def _membership(options: Any, negate: bool) -> Test:
    """``$in``/``$nin``: a str against the str options by a set (core's
    ``value in options`` for a str compares with == only), else core."""
    if not _is_list(options):
        return _never
    texts = frozenset(o for o in options if isinstance(o, str))

    def member(a: Any) -> bool:
        if type(a) is str:
            return a in texts
        return _is_in(a, options)

    if negate:
        return lambda a: not member(a)
    return member


def _version(compare: Callable[[bytes, bytes], bool], arg: Any) -> Test:
    """A version operator against ``arg`` padded once; string values' padding
    is remembered (apps report few distinct versions)."""
    right = _utf16(padded_version(arg))
    seen: dict[str, bytes] = {}

    def test(a: Any) -> bool:
        if type(a) is str:
            left = seen.get(a)
            if left is None:
                left = _utf16(padded_version(a))
                if len(seen) < VERSION_CACHE:
                    seen[a] = left
            return compare(left, right)
        return compare(_utf16(padded_version(a)), right)

    return test


def _utf16(text: str) -> bytes:
    """What ``compare_versions`` compares: JavaScript's UTF-16 code units."""
    return text.encode("utf-16-be", "surrogatepass")
