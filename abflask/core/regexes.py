"""Regular expressions that cannot stall a worker: a safety check and a search.

``re`` has no timeout, so for a pattern of ``$regex`` or ``$regexi``: (1) only
the first ``MAX_REGEX_INPUT`` characters of an attribute are searched, and a
pattern is compiled once; (2) a pattern has at most ``MAX_REGEX_LENGTH``
characters; (3) its parsed shape (``re._parser``) must pass these rules, when
a condition is saved and, once per pattern, before evaluation uses it (there
an unsafe pattern is false, like an invalid one):

* no backreference or conditional (``\\1``, ``(?P=n)``, ``(?(1)a|b)``), and no
  repeat inside a lookaround (``(?=.*a)``);
* a repeat whose body can match in more than one way (it holds an alternation,
  an optional part or another repeat) repeats at most ``MAX_AMBIGUOUS_REPEAT``
  times: no ``(a+)+``, ``(x+x+)+y``, ``(.*a){20}``, ``(a|a)*``, ``(a|ab)*``;
* the estimated backtracking steps of one search are at most
  ``MAX_REGEX_STEPS``. At one start position a repeat of a one-way body can
  stop at ``max - min + 1`` places (unbounded counts as ``MAX_REGEX_INPUT``),
  each later part is tried once per way of reaching it, and alternatives add;
  a search tries ``MAX_REGEX_INPUT`` positions unless it starts with ``^`` or
  ``\\A``. A one-character repeat followed by an ASCII digit, punctuation or
  space literal it cannot match (``\\d+\\.``, ``[^@]+@``) has one place to
  stop. This rejects overlapping repeats in a row (``a*a*b``, ``.*a.*b``),
  which backtrack polynomially; the slowest accepted patterns take tens of
  milliseconds on an adversarial input.

Without ``re._parser`` (a future Python) a pattern may hold one quantifier at
most and no quantified group, backreference or lookaround. Pure, stdlib only.
"""

from __future__ import annotations

import functools
import re
import string
from typing import Any

try:  # CPython 3.11+ (sre_parse before it, which this project does not run on)
    from re import _parser as _sre_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - the tests patch it to None instead
    _sre_parser = None

__all__ = ["problem", "search"]

MAX_REGEX_LENGTH = 256
"""Characters in a ``$regex``/``$regexi`` pattern."""
MAX_REGEX_INPUT = 1024
"""Characters of an attribute that a pattern searches; the rest is ignored."""
MAX_REGEX_STEPS = 4096 * MAX_REGEX_INPUT
"""Estimated backtracking steps of one search (see the module docstring)."""
MAX_AMBIGUOUS_REPEAT = 4
"""Repetitions of a body that can match in more than one way."""


def search(pattern: str, flags: int, text: str) -> bool:
    """Whether ``pattern`` occurs in the first ``MAX_REGEX_INPUT`` characters of
    ``text``; False for an invalid or unsafe pattern."""
    compiled = _compiled(pattern, flags)
    return compiled is not None and bool(compiled.search(text[:MAX_REGEX_INPUT]))


def problem(pattern: str, flags: int = 0) -> str | None:
    """Why ``pattern`` may not be saved, or None when it is valid and safe."""
    return _regex_problem(pattern, flags)


class _Unsafe(Exception):
    """A pattern's shape allows catastrophic backtracking; the message says how."""


_NESTED = "nested repeat"
_ALTERNATION = "alternation inside a repeat"
_OVERLAP = "overlapping repeats (too many ways to backtrack)"
_ONE_CHAR = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN", "AT", "CATEGORY"})
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_STOPS = frozenset(string.digits + string.punctuation + " ")
_CATEGORIES = {
    f"CATEGORY_{name}": re.compile(rx)
    for name, rx in [("DIGIT", r"\d"), ("SPACE", r"\s"), ("WORD", r"\w")]
    + [("NOT_DIGIT", r"\D"), ("NOT_SPACE", r"\S"), ("NOT_WORD", r"\W")]
}
_FALLBACK_UNSAFE = re.compile(r"\\[1-9]|\(\?(?:[=!(]|<[=!]|P=)|\)[*+?{]")
_QUANTIFIER = re.compile(r"[*+?]|\{[0-9]")


@functools.lru_cache(maxsize=1024)
def _regex_problem(pattern: str, flags: int) -> str | None:
    """Why ``pattern`` may not be used, or None when it is valid and safe."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"must be at most {MAX_REGEX_LENGTH} characters"
    try:
        re.compile(pattern, flags)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        return f"is not a valid regular expression ({exc})"
    if _sre_parser is None:
        return _fallback_problem(pattern)
    try:
        tree = _sre_parser.parse(pattern, flags)
        if _measure(tree)[1] * _starts(tree) > MAX_REGEX_STEPS:
            raise _Unsafe(_OVERLAP)
    except _Unsafe as exc:
        return f"may backtrack catastrophically: {exc}"
    except Exception:  # the parser's internals changed: judge the text instead
        return _fallback_problem(pattern)
    return None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str, flags: int) -> re.Pattern[str] | None:
    """``pattern`` compiled once; None when it is invalid or unsafe."""
    return None if _regex_problem(pattern, flags) else re.compile(pattern, flags)


def _fallback_problem(pattern: str) -> str | None:
    if _FALLBACK_UNSAFE.search(pattern) or len(_QUANTIFIER.findall(pattern)) > 1:
        return (
            "is too complex to check on this Python: use one quantifier at most"
            " and no quantified group, backreference or lookaround"
        )
    return None


def _name(op: Any) -> str:
    return str(getattr(op, "name", op))


def _children(name: str, arg: Any) -> list[Any]:
    """The parsed sequences directly inside one node."""
    if name == "BRANCH":
        return list(arg[1])
    if name in _REPEATS or name in ("SUBPATTERN", "ASSERT", "ASSERT_NOT"):
        return [arg[-1]]
    return [arg] if name == "ATOMIC_GROUP" else []


def _has_repeat(items: Any) -> bool:
    return any(
        _name(op) in _REPEATS or any(map(_has_repeat, _children(_name(op), arg)))
        for op, arg in items
    )


def _starts(tree: Any) -> int:
    """Positions a search tries: one when the pattern starts with ``^``/``\\A``."""
    anchors = {"AT_BEGINNING_STRING"}
    if not tree.state.flags & re.MULTILINE:
        anchors.add("AT_BEGINNING")
    first = tree[0] if len(tree) else (None, None)
    anchored = _name(first[0]) == "AT" and _name(first[1]) in anchors
    return 1 if anchored else MAX_REGEX_INPUT


def _measure(items: Any) -> tuple[int, int]:
    """(ways, steps) of a parsed sequence at one position; raises ``_Unsafe``."""
    items = list(items)
    ways, steps = 1, 0
    for index, (op, arg) in enumerate(items):
        after = items[index + 1] if index + 1 < len(items) else None
        node_ways, node_steps = _measure_node(_name(op), arg, after)
        steps += ways * node_steps
        ways *= node_ways
        if steps > MAX_REGEX_STEPS or ways > MAX_REGEX_STEPS:
            raise _Unsafe(_OVERLAP)
    return ways, steps


def _measure_node(name: str, arg: Any, after: Any) -> tuple[int, int]:
    if name in _ONE_CHAR:
        return 1, 1
    if name in ("SUBPATTERN", "ATOMIC_GROUP"):
        return _measure(_children(name, arg)[0])
    if name == "BRANCH":
        parts = [_measure(alternative) for alternative in arg[1]]
        return sum(w for w, _ in parts), sum(s for _, s in parts)
    if name in _REPEATS:
        return _measure_repeat(arg, after)
    if name in ("ASSERT", "ASSERT_NOT"):
        if _has_repeat(arg[1]):
            raise _Unsafe("a repeat inside a lookaround")
        return 1, _measure(arg[1])[1]
    if name.startswith("GROUPREF"):
        raise _Unsafe("a backreference")
    raise _Unsafe(f"unsupported construct {name}")


def _measure_repeat(arg: Any, after: Any) -> tuple[int, int]:
    low, high, body = arg
    high = max(low, min(high, MAX_REGEX_INPUT))  # it cannot run past the input
    try:
        inner, cost = _measure(body)
    except _Unsafe as exc:
        if str(exc) == _OVERLAP and high > 1:
            raise _Unsafe(_NESTED) from None
        raise
    if inner == 1:
        stops = high - low + 1
        return (1 if _stops_once(body, after) else stops), max(high * cost, stops)
    if high > MAX_AMBIGUOUS_REPEAT:
        raise _Unsafe(_NESTED if _has_repeat(body) else _ALTERNATION)
    ways = sum(inner**k for k in range(low, high + 1))
    return ways, cost * sum(inner**k for k in range(high))


def _stops_once(body: Any, after: Any) -> bool:
    """A one-character repeat has one place to stop before a literal it lacks."""
    items = list(body)
    while len(items) == 1 and _name(items[0][0]) == "SUBPATTERN":
        items = list(items[0][1][-1])
    if after is None or _name(after[0]) != "LITERAL" or len(items) != 1:
        return False
    char = chr(after[1])
    return char in _STOPS and not _can_match(items[0], char)


def _can_match(node: Any, char: str) -> bool:
    """Whether a one-character node can match ``char`` (True when unsure)."""
    op, arg = _name(node[0]), node[1]
    if op in ("LITERAL", "NOT_LITERAL"):
        return bool(arg == ord(char)) == (op == "LITERAL")
    if op != "IN":
        return True
    hit, negate = False, False
    for sub_op, sub_arg in arg:
        kind = _name(sub_op)
        if kind == "NEGATE":
            negate = True
        elif kind == "LITERAL":
            hit = hit or sub_arg == ord(char)
        elif kind == "RANGE":
            hit = hit or sub_arg[0] <= ord(char) <= sub_arg[1]
        elif kind == "CATEGORY" and _name(sub_arg) in _CATEGORIES:
            hit = hit or _CATEGORIES[_name(sub_arg)].fullmatch(char) is not None
        else:
            return True
    return bool(hit) != negate
