"""Feature flags as values: the definition, its rules and prerequisites, evaluation.

A flag serves a JSON value. ``evaluate`` (shared by the service and the SDK):

1. not ``enabled`` → ``default`` (``flag_off``);
2. each flag in ``requires`` must be on for the same user (evaluated the same
   way, recursively), else ``default`` (``prerequisite``); a missing one, a
   cycle or a chain deeper than ``MAX_PREREQUISITE_DEPTH`` counts as off;
3. ``rules`` in order, the first that serves wins: its audience must match;
   a force rule serves its value, a rollout rule serves its value when
   ``bucketing.in_rollout(user_id, rule seed or flag seed, share)``, else the
   next rule is tried (``rule``);
4. ``value`` when the user is inside the base ``rollout`` (``flag_on``), else
   ``default`` (``not_in_rollout``).

A flag is on when its value is truthy in Python's sense, as GrowthBook's
Python SDK had it before 4.0 (``FeatureResult.on = bool(value)``): null,
false, 0, "", [] and {} are off. Flags stored before rules existed (no
``value``/``default``/``rules``/``requires``) serve true inside the rollout
and false outside, exactly as before.

Differences from GrowthBook's ``eval_feature`` (deliberate; the tests show
each against ``growthbook`` 4.0):

* GrowthBook 4.0 took JavaScript's truthiness: [] and {} are on there;
* a failed prerequisite serves the flag's ``default``; GrowthBook's gating
  prerequisite serves null;
* a force rule may force null (GrowthBook skips a rule whose force is null);
* rules hash the user id with hash version 2 (GrowthBook's rules default to
  1); a share is half-open, ``hash < share``, as in GrowthBook 4.0 (earlier
  versions used ``hash <= coverage``).

Pure: no I/O and no clock (callers pass ``now``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from abflask.core import bucketing
from abflask.core.fields import MAX_STRING, check_fields, fail, number, parse_key, text
from abflask.core.outcomes import Reason
from abflask.core.segment import Segment
from abflask.core.targeting import (
    MAX_REQUIRES,
    MAX_RULES,
    Rule,
    Target,
    check_audience,
    json_value,
    parse_rule,
    resolve,
    user_attributes,
)

MAX_PREREQUISITE_DEPTH = 10
"""Links in a chain of prerequisites (a requires b requires c: 2)."""
FLAG_FIELDS = {
    "key",
    "enabled",
    "rollout",
    "seed",
    "description",
    "value",
    "default",
    "rules",
    "requires",
}


class FlagDecision(NamedTuple):
    """What a flag serves a user, and why."""

    value: Any
    reason: Reason

    @property
    def on(self) -> bool:
        """GrowthBook's truthiness: null, false, 0, "", [] and {} are off."""
        return bool(self.value)


class CompiledRule(NamedTuple):
    """A rule with its segments looked up: what evaluation reads."""

    target: Target | None
    """None: everyone."""
    value: Any
    rollout: float | None
    """None: a force rule."""
    seed: str


class CompiledFlag(NamedTuple):
    """A flag ready to evaluate (segments resolved); the SDK's ``wire.WireFlag``."""

    enabled: bool
    rollout: float
    seed: str
    value: Any = True
    default: Any = False
    rules: tuple[CompiledRule, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Flag:
    """A feature flag: rules, prerequisites and a base ``rollout`` share.

    >>> Flag(key="new-nav", enabled=True, rollout=1.0).is_on("user-1")
    True
    """

    key: str
    enabled: bool = False
    rollout: float = 1.0
    seed: str = ""
    description: str = ""
    updated_at: float | None = None
    version: int = 0
    value: Any = field(default=True, hash=False)
    """What the base rollout serves (any JSON)."""
    default: Any = field(default=False, hash=False)
    """What the flag serves when off, outside the rollout or a prerequisite is off."""
    rules: tuple[Rule, ...] = field(default=(), hash=False)
    requires: tuple[str, ...] = ()
    """Flags that must be on for the user (prerequisites)."""

    def is_on(self, user_id: str) -> bool:
        """Whether the flag is on for ``user_id`` with no attributes, flags or
        segments: a flag with ``requires`` is then off (fails closed)."""
        return self.evaluate(user_id).on

    def evaluate(
        self,
        user_id: str,
        attributes: Mapping[str, Any] | None = None,
        flags: Mapping[str, Flag] | None = None,
        segments: Mapping[str, Segment] | None = None,
    ) -> FlagDecision:
        """What this flag serves ``user_id`` (see the module docstring).

        ``flags`` are the other flags (for ``requires``); ``segments`` the
        saved segments. This definition is used even if ``flags`` holds
        another version of it.
        """
        compiled = _reachable(self, flags or {}, segments or {})
        return evaluate(self.key, user_id, attributes or {}, compiled)

    def compile(self, segments: Mapping[str, Segment]) -> CompiledFlag:
        """This flag with its rules' segments looked up (a missing one: nobody)."""
        seed = self.seed or self.key
        return CompiledFlag(
            self.enabled,
            self.rollout,
            seed,
            self.value,
            self.default,
            tuple(
                CompiledRule(
                    resolve(r.audience, segments), r.value, r.rollout, r.seed or seed
                )
                for r in self.rules
            ),
            self.requires,
        )

    def segment_refs(self) -> frozenset[str]:
        """The segments the rules name (``segments`` and ``$inGroup``)."""
        return frozenset().union(*(r.audience.segment_refs() for r in self.rules))

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (also what is stored in Redis).

        ``value``, ``default``, ``rules`` and ``requires`` appear only when
        they differ from true, false, [] and []: a flag without them keeps its
        earlier form.
        """
        data = {
            "key": self.key,
            "enabled": self.enabled,
            "rollout": self.rollout,
            "seed": self.seed or self.key,
            "description": self.description,
            "updated_at": self.updated_at,
            "version": self.version,
        }
        if self.value is not True:
            data["value"] = self.value
        if self.default is not False:
            data["default"] = self.default
        if self.rules:
            data["rules"] = [r.to_dict() for r in self.rules]
        if self.requires:
            data["requires"] = list(self.requires)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> Flag:
        """Rebuild a stored flag (one stored before rules existed, too)."""
        return cls(
            key=data["key"],
            enabled=bool(data["enabled"]),
            rollout=float(data["rollout"]),
            seed=data.get("seed") or data["key"],
            description=data.get("description", ""),
            updated_at=data.get("updated_at"),
            version=version,
            value=data.get("value", True),
            default=data.get("default", False),
            rules=tuple(Rule.from_dict(r) for r in data.get("rules") or ()),
            requires=tuple(data.get("requires") or ()),
        )


def _reachable(
    top: Flag, flags: Mapping[str, Flag], segments: Mapping[str, Segment]
) -> dict[str, CompiledFlag]:
    """``top`` and the flags it requires, directly or not, compiled."""
    done: dict[str, CompiledFlag] = {}
    stack = [top.key]
    while stack:
        key = stack.pop()
        source = top if key == top.key else flags.get(key)
        if key not in done and source is not None:
            done[key] = source.compile(segments)
            stack.extend(source.requires)
    return done


def compile_flags(
    flags: Mapping[str, Flag], segments: Mapping[str, Segment]
) -> dict[str, CompiledFlag]:
    """Every flag compiled, for a caller that evaluates many users at once."""
    return {k: f.compile(segments) for k, f in flags.items()}


def evaluate(
    key: str,
    user_id: str,
    attributes: Mapping[str, Any],
    flags: Mapping[str, CompiledFlag],
) -> FlagDecision:
    """What flag ``key`` of ``flags`` serves ``user_id`` (null, ``unknown``
    when there is no such flag). Conditions see ``attributes`` with ``id`` set
    to ``user_id`` (``targeting.user_attributes``)."""
    flag = flags.get(key)
    if flag is None:
        return FlagDecision(None, Reason.UNKNOWN)
    if flag.rules or flag.requires:
        attributes = user_attributes(user_id, attributes)
    return _decide(flag, user_id, attributes, flags, (key,), {})


def _decide(
    flag: CompiledFlag,
    user_id: str,
    attributes: Mapping[str, Any],
    flags: Mapping[str, CompiledFlag],
    path: tuple[str, ...],
    memo: dict[str, bool],
) -> FlagDecision:
    if not flag.enabled:
        return FlagDecision(flag.default, Reason.FLAG_OFF)
    for name in flag.requires:
        if not _is_on(name, user_id, attributes, flags, path, memo):
            return FlagDecision(flag.default, Reason.PREREQUISITE)
    for rule in flag.rules:
        if rule.target is not None and not rule.target.test(attributes):
            continue
        if rule.rollout is None or bucketing.in_rollout(
            user_id, rule.seed, rule.rollout
        ):
            return FlagDecision(rule.value, Reason.RULE)
    if bucketing.in_rollout(user_id, flag.seed, flag.rollout):
        return FlagDecision(flag.value, Reason.FLAG_ON)
    return FlagDecision(flag.default, Reason.NOT_IN_ROLLOUT)


def _is_on(
    name: str,
    user_id: str,
    attributes: Mapping[str, Any],
    flags: Mapping[str, CompiledFlag],
    path: tuple[str, ...],
    memo: dict[str, bool],
) -> bool:
    """Whether prerequisite ``name`` is on; each flag is evaluated once per call
    (so a diamond of prerequisites costs no more than a chain)."""
    on = memo.get(name)
    if on is None:
        parent = flags.get(name)
        if parent is None or name in path or len(path) > MAX_PREREQUISITE_DEPTH:
            on = False  # missing, a cycle or too deep: fail closed
        else:
            decided = _decide(parent, user_id, attributes, flags, (*path, name), memo)
            on = bool(decided.value)
        memo[name] = on
    return on


# -- parsing and save-time checks ----------------------------------------------


def parse_flag(payload: Any, now: float, current: Flag | None = None) -> Flag:
    """Validate a create (``current`` None) or PATCH body into a ``Flag``.

    Checks the body alone; ``check_flag`` checks it against the saved flags
    and segments. Errors name the field: ``rules[2].condition.plan.$in``.
    """
    body = check_fields(payload, FLAG_FIELDS, "")
    if current is not None:
        if "key" in body and body["key"] != current.key:
            raise fail("key", "cannot be changed")
        body = {**current.to_dict(), **body}
    key = parse_key(body.get("key"))
    enabled = body.get("enabled", False)
    if not isinstance(enabled, bool):
        raise fail("enabled", "must be true or false")
    rollout = body.get("rollout", 1.0)
    description = body.get("description")
    description = "" if description is None else description
    if not isinstance(description, str) or len(description) > 1000:
        raise fail("description", "must be a string of at most 1000 characters")
    seed = body.get("seed")
    return Flag(
        key=key,
        enabled=enabled,
        rollout=number(rollout, "rollout", 0.0, 1.0),
        seed=text(seed, "seed", MAX_STRING) if seed is not None else key,
        description=description,
        updated_at=now,
        version=current.version if current else 0,
        value=json_value(body["value"], "value") if "value" in body else True,
        default=json_value(body["default"], "default") if "default" in body else False,
        rules=_rules(body.get("rules")),
        requires=_requires(body.get("requires"), key),
    )


def _rules(raw: Any) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        raise fail("rules", f"must be a list of at most {MAX_RULES} rules")
    return tuple(parse_rule(rule, f"rules[{i}]") for i, rule in enumerate(raw))


def _requires(raw: Any, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_REQUIRES:
        raise fail("requires", f"must be a list of at most {MAX_REQUIRES} flag keys")
    names = tuple(parse_key(name, f"requires[{i}]") for i, name in enumerate(raw))
    for i, name in enumerate(names):
        if name == key:
            raise fail(f"requires[{i}]", "a flag cannot require itself")
        if name in names[:i]:
            raise fail(f"requires[{i}]", f"{name!r} is named twice")
    return names


def check_flag(
    flag: Flag, flags: Mapping[str, Flag], segments: Mapping[str, Segment]
) -> None:
    """Raise ValidationError unless ``flag`` fits the saved ``flags`` and ``segments``.

    ``requires[i]`` names an unknown flag, closes a cycle, or makes a chain of
    prerequisites (through this flag) longer than ``MAX_PREREQUISITE_DEPTH``;
    ``rules[i].segments[j]`` / ``rules[i].condition...$inGroup`` names a
    missing segment or one of the wrong kind. ``flags`` may hold ``flag``'s
    current version: ``flag`` replaces it.
    """
    graph = {**flags, flag.key: flag}
    heights: dict[str, int] = {}
    for i, name in enumerate(flag.requires):
        if name not in graph:
            raise fail(f"requires[{i}]", f"unknown flag {name!r}")
        cycle = _path(graph, name, flag.key)
        if cycle is not None:
            loop = " → ".join([flag.key, *cycle])
            raise fail(f"requires[{i}]", f"would make a cycle of prerequisites: {loop}")
    above = _above(graph, flag.key, {})
    for i, name in enumerate(flag.requires):
        depth = above + 1 + _height(graph, name, heights, set())
        if depth > MAX_PREREQUISITE_DEPTH:
            raise fail(
                f"requires[{i}]",
                f"makes a chain of {depth} prerequisites "
                f"(at most {MAX_PREREQUISITE_DEPTH})",
            )
    for i, rule in enumerate(flag.rules):
        check_audience(rule.audience, segments, f"rules[{i}].")


def _path(graph: Mapping[str, Flag], start: str, goal: str) -> list[str] | None:
    """The keys from ``start`` to ``goal`` following ``requires``, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        key, trail = stack.pop()
        if key == goal:
            return trail
        if key in seen or key not in graph:
            continue
        seen.add(key)
        stack.extend((r, [*trail, r]) for r in reversed(graph[key].requires))
    return None


def _height(
    graph: Mapping[str, Flag], key: str, memo: dict[str, int], active: set[str]
) -> int:
    """Links in the longest chain of prerequisites below ``key``."""
    if key in memo:
        return memo[key]
    if key in active or key not in graph:  # an old cycle elsewhere: stop there
        return 0
    active.add(key)
    below = [_height(graph, r, memo, active) + 1 for r in graph[key].requires]
    active.discard(key)
    memo[key] = max(below, default=0)
    return memo[key]


def _above(graph: Mapping[str, Flag], key: str, memo: dict[str, int]) -> int:
    """Links in the longest chain of flags that require ``key``, up to it."""
    if key in memo:
        return memo[key]
    memo[key] = 0  # guards an old cycle
    users = [k for k, f in graph.items() if key in f.requires]
    memo[key] = max((_above(graph, u, memo) + 1 for u in users), default=0)
    return memo[key]


def required_by(key: str, flags: Mapping[str, Flag]) -> list[str]:
    """The keys of the flags that require flag ``key`` (sorted)."""
    return sorted(k for k, f in flags.items() if key in f.requires)
