"""The SDK's parsed configuration: replaced whole on each change, never mutated.

The format is ``abflask.core.wire``'s, decoded once per fetch so that each
decision only reads tuples. What can be worked out once per snapshot is
worked out here: conditions are compiled (``sdk.compiled``), and targeted
experiments that never read the attribute ``id`` are noted (their users'
attributes are then tested as given, with no copy per call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from abflask.core import wire
from abflask.core.flag import CompiledFlag
from abflask.core.targeting import Target
from abflask.sdk.compiled import compile_target


@dataclass(frozen=True)
class Snapshot:
    """The experiments and flags of one ``/sdk/config`` answer, and its ETag."""

    experiments: Mapping[str, wire.WireExperiment]
    flags: Mapping[str, wire.WireFlag]
    etag: str
    id_blind: frozenset[str] = field(default=frozenset())
    """Targeted experiments none of whose conditions reads ``id``: testing the
    user's attributes as given decides exactly as with ``id`` set."""
    id_blind_flags: frozenset[str] = field(default=frozenset())
    """Flags no rule of which reads ``id``, nor any rule of the flags they
    require, directly or not: evaluated with the attributes as given."""

    @classmethod
    def parse(cls, raw: bytes, etag: str) -> Snapshot:
        """Decode a ``/sdk/config`` body; raises ValueError (or KeyError,
        TypeError) for one this SDK cannot read."""
        experiments, flags = wire.decode(json.loads(raw))
        blind = frozenset(
            key
            for key, exp in experiments.items()
            if exp.target is not None and not reads_id(exp.target)
        )
        return cls(
            {k: _compiled_experiment(e) for k, e in experiments.items()},
            {k: _compiled_flag(f) for k, f in flags.items()},
            etag,
            blind,
            _id_blind_flags(flags),
        )


def _compiled_experiment(exp: wire.WireExperiment) -> wire.WireExperiment:
    if exp.target is None:
        return exp
    return exp._replace(target=compile_target(exp.target))


def _compiled_flag(flag: CompiledFlag) -> CompiledFlag:
    if not flag.rules:
        return flag
    rules = tuple(
        r if r.target is None else r._replace(target=compile_target(r.target))
        for r in flag.rules
    )
    return flag._replace(rules=rules)


def _id_blind_flags(flags: Mapping[str, CompiledFlag]) -> frozenset[str]:
    """The flags whose evaluation never reads ``id`` (prerequisites included)."""
    reading = {
        key
        for key, flag in flags.items()
        if any(r.target is not None and reads_id(r.target) for r in flag.rules)
    }
    blind: set[str] = set()
    for key in flags:
        seen: set[str] = set()
        stack = [key]
        while stack and not seen & reading:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(flags[name].requires if name in flags else ())
        if not seen & reading:
            blind.add(key)
    return frozenset(blind)


def reads_id(target: Target) -> bool:
    """Whether any condition of ``target`` may read the attribute ``id``.

    Conservative: any object key ``id`` or ``id.…`` anywhere counts, even one
    inside an operator that reads something else (``$elemMatch`` items).
    """
    stack: list[Any] = list(target.conditions)
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "id" or (isinstance(key, str) and key.startswith("id.")):
                    return True
                stack.append(value)
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False
