"""Who an experiment or a flag rule targets, and whether a user's attributes match.

An ``Audience`` is a condition (GrowthBook syntax, ``core.conditions``) and the
names of condition segments; a user matches when every named segment's
condition and the audience's own condition hold, with the list segments as
saved groups for ``$inGroup``. A segment that is missing (or of the wrong
kind) matches nobody: targeting fails closed. The service and the SDK both
call ``matches``, or ``resolve`` once and ``Target.test`` per user, with
``user_attributes``: the attribute ``id`` is the user id, as in GrowthBook
where ``id`` is also what rules hash. A flag
``Rule`` is an audience and what it serves (parsed here; evaluated by
``core.flag``). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from abflask.core.conditions import eval_condition, validate_condition
from abflask.core.fields import MAX_STRING, check_fields, fail, number, parse_key, text
from abflask.core.segment import Segment, group_refs

MAX_AUDIENCE_SEGMENTS = 10
"""Segments an experiment or a flag rule may name."""


class Audience(NamedTuple):
    """What an experiment or a flag rule targets; the default targets everyone."""

    condition: dict[str, Any] | None = None
    segments: tuple[str, ...] = ()

    @property
    def everyone(self) -> bool:
        """True when there is no condition and no segment."""
        return self.condition is None and not self.segments

    def segment_refs(self) -> frozenset[str]:
        """The segments named: in ``segments`` and by ``$inGroup`` in ``condition``."""
        groups = group_refs(self.condition, "") if self.condition is not None else []
        return frozenset(self.segments) | {name for _, name in groups}

    def fields(self) -> dict[str, Any]:
        """The JSON fields of what is set: ``condition``, ``segments``, or neither.

        Definitions without targeting keep exactly their earlier JSON form.
        """
        found: dict[str, Any] = {}
        if self.condition is not None:
            found["condition"] = self.condition
        if self.segments:
            found["segments"] = list(self.segments)
        return found


EVERYONE = Audience()


class SavedGroups(Mapping[str, Sequence[Any]]):
    """The list segments of ``segments`` as GrowthBook saved groups: a view, so
    building it costs nothing per call."""

    __slots__ = ("_segments",)

    def __init__(self, segments: Mapping[str, Segment]) -> None:
        self._segments = segments

    def __getitem__(self, key: str) -> Sequence[Any]:
        segment = self._segments.get(key)
        if segment is None or segment.members is None:
            raise KeyError(key)
        return segment.members

    def __contains__(self, key: object) -> bool:
        segment = self._segments.get(key) if isinstance(key, str) else None
        return segment is not None and segment.members is not None

    def __iter__(self) -> Iterator[str]:
        return (k for k, s in self._segments.items() if s.members is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def user_attributes(user_id: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """What conditions see: ``attributes`` with ``id`` set to ``user_id`` (an
    ``id`` among the attributes is replaced: the user is who is hashed)."""
    return {**attributes, "id": user_id}


def saved_groups(segments: Mapping[str, Segment]) -> Mapping[str, Sequence[Any]]:
    """``{key: values}`` of the list segments (a view over ``segments``)."""
    return SavedGroups(segments)


class Target(NamedTuple):
    """An audience with its segments looked up: all ``conditions`` must hold."""

    conditions: tuple[Mapping[str, Any], ...]
    groups: Mapping[str, Sequence[Any]]
    possible: bool = True
    """False when a segment it names is missing: it then matches nobody."""

    def test(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a user with ``attributes`` is in the audience."""
        if not self.possible:
            return False
        groups = self.groups
        for condition in self.conditions:
            if not eval_condition(attributes, condition, groups):
                return False
        return True


NOBODY = Target((), {}, possible=False)


def resolve(audience: Audience, segments: Mapping[str, Segment]) -> Target | None:
    """``audience`` ready to test, or None when it targets everyone.

    ``NOBODY`` when a named segment is missing or is not a condition segment,
    or a group named by ``$inGroup``/``$notInGroup`` is not a list segment.
    """
    if audience.everyone:
        return None
    conditions: list[dict[str, Any]] = []
    for name in audience.segments:
        segment = segments.get(name)
        if segment is None or segment.condition is None:
            return NOBODY
        conditions.append(segment.condition)
    if audience.condition is not None:
        conditions.append(audience.condition)
    for condition in conditions:
        for _, name in group_refs(condition, ""):
            segment = segments.get(name)
            if segment is None or segment.members is None:
                return NOBODY
    return Target(tuple(conditions), SavedGroups(segments))


def matches(
    audience: Audience, attributes: Mapping[str, Any], segments: Mapping[str, Segment]
) -> bool:
    """Whether ``attributes`` are in ``audience``; a missing segment → False.

    >>> matches(Audience({"plan": "pro"}), {"plan": "pro"}, {})
    True
    """
    target = resolve(audience, segments)
    return target is None or target.test(attributes)


def parse_audience(body: Mapping[str, Any], prefix: str = "") -> Audience:
    """The ``condition`` and ``segments`` fields of a body, checked alone.

    The condition's syntax and bounds are checked, and the names are keys,
    unique, at most ``MAX_AUDIENCE_SEGMENTS``; whether the segments exist is
    ``check_audience``'s job (at save time). Errors name
    ``{prefix}condition...`` or ``{prefix}segments[i]``.
    """
    raw_condition = body.get("condition")
    condition = (
        None
        if raw_condition is None
        else validate_condition(raw_condition, f"{prefix}condition")
    )
    raw = body.get("segments")
    if raw is None:
        return Audience(condition)
    path = f"{prefix}segments"
    if not isinstance(raw, list) or len(raw) > MAX_AUDIENCE_SEGMENTS:
        raise fail(path, f"must be a list of at most {MAX_AUDIENCE_SEGMENTS} names")
    names = tuple(parse_key(name, f"{path}[{i}]") for i, name in enumerate(raw))
    for i, name in enumerate(names):
        if name in names[:i]:
            raise fail(f"{path}[{i}]", f"{name!r} is named twice")
    return Audience(condition, names)


def check_segment_names(
    names: Sequence[str], segments: Mapping[str, Segment], path: str = "segments"
) -> None:
    """Raise ValidationError naming ``{path}[i]`` unless each name is a saved
    condition segment (a list segment is used with ``$inGroup`` instead)."""
    for i, name in enumerate(names):
        segment = segments.get(name)
        if segment is None:
            raise fail(f"{path}[{i}]", f"unknown segment {name!r}")
        if segment.condition is None:
            raise fail(
                f"{path}[{i}]",
                f"{name!r} is a list segment: use it with $inGroup in a condition",
            )


def check_audience(
    audience: Audience, segments: Mapping[str, Segment], prefix: str = ""
) -> None:
    """Raise ValidationError unless every segment ``audience`` names is saved
    and of the right kind: ``{prefix}segments[i]`` for the list of names,
    ``{prefix}condition.<path>.$inGroup`` for a group in the condition."""
    check_segment_names(audience.segments, segments, f"{prefix}segments")
    if audience.condition is None:
        return
    path = f"{prefix}condition"
    for where, name in group_refs(audience.condition, path):
        segment = segments.get(name)
        if segment is None:
            raise fail(where, f"unknown segment {name!r}")
        if segment.values is None:
            raise fail(
                where, f"{name!r} is a condition segment: $inGroup takes list segments"
            )
    groups = [k for k, s in segments.items() if s.values is not None]
    validate_condition(audience.condition, path, groups)


# -- flag rules ----------------------------------------------------------------

MAX_RULES = 50
"""Rules in a flag."""
MAX_REQUIRES = 10
"""Prerequisites of a flag."""
MAX_VALUE_BYTES = 4096
"""Bytes of a flag value (``value``, ``default``, a rule's) as compact UTF-8 JSON."""
RULE_FIELDS = {"condition", "segments", "force", "rollout", "value", "seed"}


@dataclass(frozen=True)
class Rule:
    """A flag rule: for users in ``audience``, serve ``value`` (force), or
    serve it to a ``rollout`` share of them (hashed with ``seed``, else the
    flag's seed).

    JSON: ``{"condition", "segments", "force": v}`` or ``{"condition",
    "segments", "rollout": 0.2, "value": v, "seed"}`` (``condition``,
    ``segments`` and ``seed`` optional).
    """

    audience: Audience = field(default=EVERYONE, hash=False)
    value: Any = field(default=None, hash=False)
    rollout: float | None = None
    """None: a force rule."""
    seed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``parse_rule`` reads)."""
        data = self.audience.fields()
        if self.rollout is None:
            data["force"] = self.value
            return data
        data["rollout"] = self.rollout
        data["value"] = self.value
        if self.seed is not None:
            data["seed"] = self.seed
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Rebuild a stored rule (trusted input written by ``to_dict``)."""
        audience = Audience(data.get("condition"), tuple(data.get("segments") or ()))
        if "force" in data:
            return cls(audience, data["force"])
        return cls(audience, data["value"], float(data["rollout"]), data.get("seed"))


def parse_rule(raw: Any, path: str) -> Rule:
    """One rule of a flag body; errors name ``{path}.<field>``."""
    body = check_fields(raw, RULE_FIELDS, path)
    audience = parse_audience(body, f"{path}.")
    if "force" in body:
        for name in ("rollout", "value", "seed"):
            if name in body:
                raise fail(f"{path}.{name}", "cannot be combined with force")
        return Rule(audience, json_value(body["force"], f"{path}.force"))
    if "rollout" not in body:
        raise fail(path, "needs force (a value) or rollout (a share) and value")
    rollout = number(body["rollout"], f"{path}.rollout", 0.0, 1.0)
    if "value" not in body:
        raise fail(f"{path}.value", "is required with rollout")
    seed = body.get("seed")
    return Rule(
        audience,
        json_value(body["value"], f"{path}.value"),
        rollout,
        None if seed is None else text(seed, f"{path}.seed", MAX_STRING),
    )


def json_value(raw: Any, path: str) -> Any:
    """``raw`` when it is JSON of at most ``MAX_VALUE_BYTES`` bytes."""
    try:
        encoded = json.dumps(
            raw, allow_nan=False, separators=(",", ":"), ensure_ascii=False
        )
    except (TypeError, ValueError, RecursionError):
        raise fail(path, "must be a JSON value") from None
    if len(encoded.encode()) > MAX_VALUE_BYTES:
        raise fail(path, f"must be at most {MAX_VALUE_BYTES} bytes as JSON")
    return raw
