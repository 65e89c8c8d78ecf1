"""The ``/sdk/config`` snapshot format: encoded by the service, decoded by the SDK.

A snapshot is JSON::

    {"format_version": 1,
     "experiments": {key: {"variations", "ranges", "seed", "hash_version",
                           "namespace", "status", "winner"}},
     "flags": {key: {"enabled", "rollout", "seed"}}}

It holds only what an SDK decides with: no draft experiments (they are not
public until started; an SDK answers its default for them, as for any key it
does not know), and no names, metrics, caps or versions. ``ranges`` are the
precomputed bucket ranges, so the SDK decides exactly as the service does.
``format_version`` changes only when an older SDK could no longer read a
snapshot; an SDK refuses a newer format (and keeps its last good snapshot)
rather than deciding wrongly. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from abflask.core import bucketing
from abflask.core.experiment import Experiment
from abflask.core.flag import Flag

FORMAT_VERSION = 1
"""The snapshot format this code writes and the newest it reads."""


class WireExperiment(NamedTuple):
    """One experiment as the SDK decides it (a tuple: read on every call)."""

    variations: tuple[str, ...]
    split: bucketing.Split
    running: bool
    winner: int | None
    """The index served to everyone once completed; None otherwise."""


class WireFlag(NamedTuple):
    """One flag as the SDK evaluates it."""

    enabled: bool
    rollout: float
    seed: str


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
    }


def flag_entry(flag: Flag) -> dict[str, Any]:
    """A flag as the SDK evaluates it."""
    return {
        "enabled": flag.enabled,
        "rollout": flag.rollout,
        "seed": flag.seed or flag.key,
    }


def encode(
    experiments: Mapping[str, Experiment], flags: Mapping[str, Flag]
) -> dict[str, Any]:
    """The snapshot of these definitions (serialise it with sorted keys).

    Draft experiments are left out: an SDK has nothing to decide with them.
    """
    return {
        "format_version": FORMAT_VERSION,
        "experiments": {
            k: experiment_entry(e)
            for k, e in experiments.items()
            if e.status != "draft"
        },
        "flags": {k: flag_entry(f) for k, f in flags.items()},
    }


def decode(
    data: Mapping[str, Any],
) -> tuple[dict[str, WireExperiment], dict[str, WireFlag]]:
    """Parse a snapshot into the SDK's experiments and flags.

    A snapshot without ``format_version`` is read as version 1. Raises
    ValueError for a newer format, and KeyError or TypeError for a malformed
    one: the caller keeps its last good snapshot.
    """
    version = data.get("format_version", 1)
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"snapshot format {version!r} is newer than this SDK reads "
            f"({FORMAT_VERSION}); upgrade abflask"
        )
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
        )
        for key, e in data["experiments"].items()
    }
    flags = {
        key: WireFlag(f["enabled"], f["rollout"], f["seed"])
        for key, f in data["flags"].items()
    }
    return experiments, flags
