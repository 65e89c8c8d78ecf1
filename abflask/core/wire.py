"""The ``/sdk/config`` snapshot format: encoded by the service, decoded by the SDK.

A snapshot is JSON::

    {"format_version": 1,
     "experiments": {key: {"variations", "ranges", "seed", "hash_version",
                           "namespace", "status", "winner"}},
     "flags": {key: {"enabled", "rollout", "seed"}}}

Format 2 adds targeting. An experiment entry may add ``condition`` and
``segments``; a flag entry ``value``, ``default`` (when not true and false),
``rules`` (``Rule.to_dict``: ``{"condition", "segments", "force"}`` or
``{"condition", "segments", "rollout", "value", "seed"}``) and ``requires``;
and a top-level ``segments`` holds the segments these name, list segments as
``{"values": [...]}`` and condition segments as ``{"condition": {...}}``::

    {"format_version": 2,
     "experiments": {"checkout-btn": {..., "condition": {"country": "DE"},
                                      "segments": ["eu-pro"]}},
     "flags": {"nav": {"enabled": true, "rollout": 1.0, "seed": "nav",
                       "value": "blue", "default": "grey", "requires": ["auth"],
                       "rules": [{"condition": {"id": {"$inGroup": "beta"}},
                                  "force": "green"}]}},
     "segments": {"beta": {"values": ["u-1", "u-2"]},
                  "eu-pro": {"condition": {"plan": "pro"}}}}

A snapshot is written in format 1 whenever no definition uses targeting, so
older SDKs keep reading it; once one does, they refuse format 2 and keep their
last good snapshot rather than deciding wrongly.

It holds only what an SDK decides with: no draft experiments (they are not
public until started; an SDK answers its default for them, as for any key it
does not know), no names, metrics, caps or versions, and only the segments
named. ``ranges`` are the precomputed bucket ranges, so the SDK decides
exactly as the service does; ``decode`` looks the segments up once, so a
decision reads tuples (``WireExperiment.target`` is None without targeting).
Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from abflask.core import bucketing
from abflask.core.experiment import Experiment
from abflask.core.flag import CompiledFlag, Flag
from abflask.core.segment import Segment, UsesSegments
from abflask.core.targeting import Audience, Rule, Target, resolve, user_attributes

FORMAT_VERSION = 2
"""The newest snapshot format this code writes and reads."""
PLAIN_VERSION = 1
"""The format of a snapshot in which no definition uses targeting."""
TARGETING_FIELDS = frozenset(
    {"condition", "segments", "value", "default", "rules", "requires"}
)
"""Entry fields that only format 2 has."""


class WireExperiment(NamedTuple):
    """One experiment as the SDK decides it (a tuple: read on every call)."""

    variations: tuple[str, ...]
    split: bucketing.Split
    running: bool
    winner: int | None
    """The index served to everyone once completed; None otherwise."""
    target: Target | None = None
    """Who may enter, segments looked up; None: everyone."""

    def targets(self, user_id: str, attributes: Mapping[str, Any]) -> bool:
        """Whether ``user_id`` may enter: ``Experiment.targets`` from the snapshot."""
        target = self.target
        return target is None or target.test(user_attributes(user_id, attributes))


WireFlag = CompiledFlag
"""One flag as the SDK evaluates it (``flag.evaluate(key, user, attrs, flags)``)."""


def experiment_entry(exp: Experiment) -> dict[str, Any]:
    """What the SDK needs to decide locally, exactly as the service does."""
    ns = exp.namespace
    return {
        "variations": list(exp.variations),
        "ranges": [list(r) for r in exp.split.ranges],
        "seed": exp.effective_seed,
        "hash_version": exp.hash_version,
        "namespace": [ns[0], ns[1], ns[2]] if ns else None,
        "status": exp.status,
        "winner": exp.winner,
        **exp.audience.fields(),
    }


def flag_entry(flag: Flag) -> dict[str, Any]:
    """A flag as the SDK evaluates it: the stored form without its labels."""
    dropped = ("key", "description", "updated_at", "version")
    return {k: v for k, v in flag.to_dict().items() if k not in dropped}


def segment_entry(segment: Segment) -> dict[str, Any]:
    """``{"values": [...]}`` or ``{"condition": {...}}``."""
    if segment.values is not None:
        return {"values": list(segment.values)}
    return {"condition": segment.condition}


def encode(
    experiments: Mapping[str, Experiment],
    flags: Mapping[str, Flag],
    segments: Mapping[str, Segment] | None = None,
) -> dict[str, Any]:
    """The snapshot of these definitions (serialise it with sorted keys).

    Draft experiments are left out: an SDK has nothing to decide with them.
    Format 1 unless an entry uses targeting; then format 2 with the segments
    named (a named segment missing from ``segments`` is left out: the SDK
    then matches nobody with it, as the service does).
    """
    shown = [e for e in experiments.values() if e.status != "draft"]
    entries = {
        "experiments": {e.key: experiment_entry(e) for e in shown},
        "flags": {k: flag_entry(f) for k, f in flags.items()},
    }
    targeted = any(
        TARGETING_FIELDS.intersection(entry)
        for part in entries.values()
        for entry in part.values()
    )
    if not targeted:
        return {"format_version": PLAIN_VERSION, **entries}
    known = segments or {}
    users: list[UsesSegments] = [*shown, *flags.values()]
    named = set().union(*(d.segment_refs() for d in users))
    named |= set().union(*(known[k].segment_refs() for k in named if k in known))
    return {
        "format_version": FORMAT_VERSION,
        **entries,
        "segments": {k: segment_entry(known[k]) for k in sorted(named) if k in known},
    }


def decode(
    data: Mapping[str, Any],
) -> tuple[dict[str, WireExperiment], dict[str, WireFlag]]:
    """Parse a snapshot into the SDK's experiments and flags.

    A snapshot without ``format_version`` is read as version 1. Raises
    ValueError for a newer format, and KeyError or TypeError for a malformed
    one: the caller keeps its last good snapshot. Segments are looked up here,
    once: experiments carry a ``target``, flags compiled rules.
    """
    version = data.get("format_version", 1)
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"snapshot format {version!r} is newer than this SDK reads "
            f"({FORMAT_VERSION}); upgrade abflask"
        )
    segments = {
        key: Segment(
            key,
            values=tuple(s["values"]) if "values" in s else None,
            condition=None if "values" in s else dict(s["condition"]),
        )
        for key, s in data.get("segments", {}).items()
    }
    experiments = {
        key: WireExperiment(
            tuple(e["variations"]),
            bucketing.make_split(
                e["seed"],
                e["hash_version"],
                [(float(r[0]), float(r[1])) for r in e["ranges"]],
                tuple(e["namespace"]) if e["namespace"] else None,
            ),
            e["status"] == "running",
            e["winner"] if e["status"] == "completed" else None,
            resolve(
                Audience(e.get("condition"), tuple(e.get("segments", ()))), segments
            ),
        )
        for key, e in data["experiments"].items()
    }
    flags = {key: _flag(key, f).compile(segments) for key, f in data["flags"].items()}
    return experiments, flags


def _flag(key: str, entry: Mapping[str, Any]) -> Flag:
    return Flag(
        key,
        enabled=bool(entry["enabled"]),
        rollout=float(entry["rollout"]),
        seed=entry["seed"],
        value=entry.get("value", True),
        default=entry.get("default", False),
        rules=tuple(Rule.from_dict(r) for r in entry.get("rules", ())),
        requires=tuple(entry.get("requires", ())),
    )
