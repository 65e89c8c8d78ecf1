"""Segments: named, saved targeting rules, and who references them.

A segment is one of two kinds:

* a **list** segment, ``{"key": "beta-testers", "values": ["u-1", "u-2"]}``,
  is a GrowthBook saved group: conditions test membership with
  ``{"id": {"$inGroup": "beta-testers"}}`` (or ``$notInGroup``);
* a **condition** segment, ``{"key": "eu-pro", "condition": {...}}``, is a
  named condition: experiments and flag rules list it in ``"segments"``.

A condition segment's condition may use list segments but no condition
segment (no recursion). Parsing checks a body on its own (``parse_segment``);
``check_segment`` checks it against the other segments at save time, and
``references`` names who uses a segment (the service answers 409 on delete).
Pure: no I/O and no clock (callers pass ``now``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, overload

from abflask.core.conditions import validate_condition
from abflask.core.fields import check_fields, fail, parse_key

MAX_SEGMENT_VALUES = 10_000
"""Values in a list segment."""
MAX_SEGMENT_VALUE = 256
"""Characters in one string value of a list segment."""
MAX_DESCRIPTION = 1000
"""Characters in a segment's description."""
SEGMENT_FIELDS = {"key", "description", "values", "condition"}
GROUP_OPERATORS = ("$inGroup", "$notInGroup")
"""The condition operators that name a list segment."""


class Members(Sequence[Any]):
    """A list segment's values: a sequence whose membership test is a set lookup.

    The conditions module tests a string attribute with ``in``; for a list of
    10,000 values that is a hash lookup instead of a scan. Iteration (used for
    numbers, which compare as JSON numbers) keeps the values' order.
    """

    __slots__ = ("_items", "_strings")

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = tuple(items)
        self._strings = frozenset(v for v in self._items if type(v) is str)

    def __contains__(self, item: object) -> bool:
        if type(item) is str:
            return item in self._strings
        if isinstance(item, bool):  # values are never booleans; True == 1 in Python
            return False
        return item in self._items

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Members({len(self._items)} values)"


@dataclass(frozen=True)
class Segment:
    """A named list of values or a named condition (exactly one is set).

    >>> Segment(key="beta", values=("u-1", "u-2")).kind
    'list'
    """

    key: str
    description: str = ""
    values: tuple[str | int | float, ...] | None = None
    condition: dict[str, Any] | None = field(default=None, hash=False)
    updated_at: float | None = None
    version: int = 0
    members: Members | None = field(init=False, compare=False, repr=False)
    """``values`` ready for ``$inGroup`` (None for a condition segment)."""

    def __post_init__(self) -> None:
        members = None if self.values is None else Members(self.values)
        object.__setattr__(self, "members", members)

    @property
    def kind(self) -> str:
        """``"list"`` or ``"condition"``."""
        return "list" if self.values is not None else "condition"

    def segment_refs(self) -> frozenset[str]:
        """The list segments this segment's condition names (``$inGroup``)."""
        if self.condition is None:
            return frozenset()
        return frozenset(name for _, name in group_refs(self.condition, "condition"))

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (also what is stored in Redis)."""
        return {
            "key": self.key,
            "description": self.description,
            "values": list(self.values) if self.values is not None else None,
            "condition": self.condition,
            "updated_at": self.updated_at,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> Segment:
        """Rebuild a stored segment (trusted input written by ``to_dict``)."""
        values = data.get("values")
        return cls(
            key=data["key"],
            description=data.get("description") or "",
            values=tuple(values) if values is not None else None,
            condition=data.get("condition"),
            updated_at=data.get("updated_at"),
            version=version,
        )


def parse_segment(payload: Any, now: float, current: Segment | None = None) -> Segment:
    """Validate a create (``current`` None) or PATCH body into a ``Segment``.

    Checks the body alone: the condition's syntax, not the segments it names
    (``check_segment`` does that against the saved ones). A PATCH merges into
    ``current`` and may not change the kind. Raises ValidationError naming
    the field (``values[12]``, ``condition.plan.$in``).
    """
    body = check_fields(payload, SEGMENT_FIELDS, "")
    if current is not None:
        if "key" in body and body["key"] != current.key:
            raise fail("key", "cannot be changed")
        other = "condition" if current.values is not None else "values"
        if body.get(other) is not None:
            raise fail(other, f"a {current.kind} segment cannot change its kind")
        body = {**current.to_dict(), **body}
    key = parse_key(body.get("key"))
    description = body.get("description")
    description = "" if description is None else description
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise fail(
            "description", f"must be a string of at most {MAX_DESCRIPTION} characters"
        )
    values, condition = body.get("values"), body.get("condition")
    if (values is None) == (condition is None):
        raise fail("values", "give exactly one of values (a list) or condition")
    return Segment(
        key=key,
        description=description,
        values=None if values is None else _values(values),
        condition=None if condition is None else validate_condition(condition),
        updated_at=now,
        version=current.version if current else 0,
    )


def _values(raw: Any) -> tuple[str | int | float, ...]:
    """At most ``MAX_SEGMENT_VALUES`` strings or numbers, duplicates dropped."""
    if not isinstance(raw, list) or len(raw) > MAX_SEGMENT_VALUES:
        raise fail("values", f"must be a list of at most {MAX_SEGMENT_VALUES} values")
    for i, value in enumerate(raw):
        if isinstance(value, str):
            if len(value) > MAX_SEGMENT_VALUE:
                raise fail(
                    f"values[{i}]", f"must be at most {MAX_SEGMENT_VALUE} characters"
                )
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"values[{i}]", "must be a string or a number")
        elif isinstance(value, float) and not math.isfinite(value):
            raise fail(f"values[{i}]", "must be a finite number")
    # Order kept; 1 and 1.0 are one JSON number (conditions compare them equal).
    return tuple(dict.fromkeys(raw))


def group_refs(condition: Any, path: str) -> list[tuple[str, str]]:
    """Each ``$inGroup``/``$notInGroup`` in ``condition``: (its path, the name).

    Paths are written as ``validate_condition`` names them
    (``condition.$or[1].id.$inGroup``).
    """
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(condition, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in GROUP_OPERATORS and isinstance(value, str):
                    found.append((f"{where}.{key}", value))
                else:
                    stack.append((value, f"{where}.{key}"))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node))
    return sorted(found)


def check_segment(segment: Segment, segments: Mapping[str, Segment]) -> None:
    """Raise ValidationError unless ``segment`` fits the saved ``segments``.

    A condition segment may name list segments only, and only saved ones
    (``condition.id.$inGroup: unknown segment 'x'``). ``segments`` may hold
    ``segment``'s own current version: it is ignored.
    """
    if segment.condition is None:
        return
    others = {k: s for k, s in segments.items() if k != segment.key}
    for where, name in group_refs(segment.condition, "condition"):
        found = others.get(name)
        if found is None:
            raise fail(where, f"unknown segment {name!r}")
        if found.values is None:
            raise fail(
                where, f"{name!r} is a condition segment: $inGroup takes list segments"
            )
    groups = [k for k, s in others.items() if s.values is not None]
    validate_condition(segment.condition, "condition", groups)


class UsesSegments(Protocol):
    """A definition that may name segments: an experiment, a flag, a segment."""

    def segment_refs(self) -> frozenset[str]:
        """The keys of the segments it names, directly or with ``$inGroup``."""
        ...


def references(
    key: str,
    experiments: Mapping[str, UsesSegments],
    flags: Mapping[str, UsesSegments],
    segments: Mapping[str, UsesSegments],
) -> dict[str, list[str]]:
    """Who uses segment ``key``: ``{"experiments": [...], "flags": [...],
    "segments": [...]}`` with sorted keys, only the kinds that do (empty when
    nobody does, so the segment may be deleted)."""
    users = {
        kind: sorted(k for k, d in defs.items() if key in d.segment_refs())
        for kind, defs in (
            ("experiments", experiments),
            ("flags", flags),
            ("segments", segments),
        )
    }
    return {kind: keys for kind, keys in users.items() if keys}
