"""Changing definitions: the one code path of the admin API and the CLI.

Each function validates completely before its single write (a rejected
change writes nothing), and makes this worker re-read its cached
definitions afterwards. Raises the domain errors the API answers with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from abflask.core.experiment import Experiment, parse_experiment
from abflask.core.fields import check_fields, parse_key
from abflask.core.flag import Flag, check_flag, parse_flag, required_by
from abflask.core.segment import Segment, check_segment, parse_segment, references
from abflask.core.targeting import check_audience
from abflask.errors import ConflictError, NotFoundError
from abflask.service.extension import Services


def get_experiment(svc: Services, key: str) -> Experiment:
    """One experiment, read from Redis; NotFoundError if there is none."""
    found = svc.store.get_experiment(parse_key(key))
    if found is None:
        raise NotFoundError(f"experiment {key!r} does not exist")
    return found


def list_experiments(svc: Services) -> list[Experiment]:
    """Every experiment, sorted by key."""
    return list(svc.store.load_experiments().values())


def describe_experiment(svc: Services, key: str) -> dict[str, Any]:
    """One experiment's definition with its live ``counts``."""
    exp = get_experiment(svc, key)
    return {**exp.to_dict(), "counts": svc.store.counters(exp)}


def experiment_results(svc: Services, key: str) -> dict[str, Any]:
    """The latest results the analysis job stored for an experiment."""
    exp = get_experiment(svc, key)
    found = svc.store.results(exp.key)
    if found is None:
        raise NotFoundError(
            f"no results for {key!r} yet: run scripts/analyze.py (e.g. from cron)"
        )
    return found


def _check_namespace(svc: Services, exp: Experiment) -> None:
    """Experiments sharing a namespace must not overlap: users see one of them."""
    if exp.namespace is None:
        return
    ns_id, start, end = exp.namespace
    for other in svc.store.load_experiments().values():
        if other.key == exp.key or other.namespace is None:
            continue
        o_id, o_start, o_end = other.namespace
        if o_id == ns_id and start < o_end and o_start < end:
            raise ConflictError(
                f"namespace {ns_id!r} range [{start}, {end}) overlaps "
                f"experiment {other.key!r} [{o_start}, {o_end})"
            )


def _check_targeting(svc: Services, exp: Experiment) -> None:
    """The segments ``exp`` names must be saved and of the right kind (400
    naming ``segments[i]`` or ``condition.<path>.$inGroup``)."""
    if exp.condition is not None or exp.segments:
        check_audience(exp.audience, svc.store.load_segments())


def create_experiment(svc: Services, payload: Any, now: float) -> Experiment:
    """Create a draft from a create body (see ``parse_experiment``)."""
    exp = parse_experiment(payload, now)
    _check_targeting(svc, exp)
    _check_namespace(svc, exp)
    created = svc.store.create_experiment(exp)
    svc.definitions.invalidate()
    return created


def _saved(svc: Services, exp: Experiment) -> Experiment:
    saved = svc.store.save_experiment(exp)
    svc.definitions.invalidate()
    return saved


def patch_experiment(svc: Services, key: str, payload: Any, now: float) -> Experiment:
    """Change weights, coverage, cap, name, metrics, analysis, condition or
    segments (anything while draft; targeting until completed).

    A change of the weights of a running or stopped experiment begins a phase
    at ``now`` (see ``Experiment.patch``).
    """
    exp = get_experiment(svc, key).patch(payload, now)
    _check_targeting(svc, exp)
    _check_namespace(svc, exp)
    return _saved(svc, exp)


def _transition(
    svc: Services, key: str, change: Callable[[Experiment], Experiment]
) -> Experiment:
    return _saved(svc, change(get_experiment(svc, key)))


def start_experiment(svc: Services, key: str, now: float) -> Experiment:
    """draft or stopped → running."""
    return _transition(svc, key, lambda e: e.start(now))


def stop_experiment(svc: Services, key: str, now: float) -> Experiment:
    """running → stopped (everyone gets the first variation)."""
    return _transition(svc, key, lambda e: e.stop(now))


def complete_experiment(svc: Services, key: str, winner: Any, now: float) -> Experiment:
    """running or stopped → completed: everyone gets ``winner``, nobody is enrolled."""
    return _transition(svc, key, lambda e: e.complete(winner, now))


def new_phase(svc: Services, key: str, payload: Any, now: float) -> Experiment:
    """Begin a phase of a running or stopped experiment at ``now``.

    ``payload`` is ``{}`` (the current weights) or ``{"weights": [...]}``.
    ConflictError for a draft or completed experiment; ValidationError naming
    the field for bad weights or an unknown field.
    """
    body = check_fields(payload, {"weights"}, "")
    return _transition(svc, key, lambda e: e.new_phase(now, body.get("weights")))


def delete_experiment(svc: Services, key: str) -> None:
    """Remove an experiment and all its data; NotFoundError if there is none."""
    if not svc.store.delete_experiment(parse_key(key)):
        raise NotFoundError(f"experiment {key!r} does not exist")
    svc.definitions.invalidate()


# -- feature flags ------------------------------------------------------------


def get_flag(svc: Services, key: str) -> Flag:
    """One flag, read from Redis; NotFoundError if there is none."""
    found = svc.store.load_flags().get(parse_key(key))
    if found is None:
        raise NotFoundError(f"flag {key!r} does not exist")
    return found


def list_flags(svc: Services) -> list[Flag]:
    """Every flag, sorted by key."""
    return list(svc.store.load_flags().values())


def _checked_flag(svc: Services, flag: Flag) -> Flag:
    """``flag`` if it fits the saved flags and segments (``check_flag``)."""
    segments = svc.store.load_segments() if flag.rules else {}
    check_flag(flag, svc.store.load_flags(), segments)
    return flag


def create_flag(svc: Services, payload: Any, now: float) -> Flag:
    """Create a flag from a create body (see ``parse_flag``).

    400 naming ``requires[i]`` for an unknown prerequisite, a cycle or too
    long a chain, and ``rules[i]...`` for a segment that is not saved.
    """
    created = svc.store.create_flag(_checked_flag(svc, parse_flag(payload, now)))
    svc.definitions.invalidate()
    return created


def patch_flag(svc: Services, key: str, payload: Any, now: float) -> Flag:
    """Change any field but ``key``, checked as ``create_flag`` checks."""
    flag = parse_flag(payload, now, current=get_flag(svc, key))
    saved = svc.store.save_flag(_checked_flag(svc, flag))
    svc.definitions.invalidate()
    return saved


def delete_flag(svc: Services, key: str) -> None:
    """Remove a flag; NotFoundError if there is none, ConflictError while
    other flags require it (naming them)."""
    key = parse_key(key)
    users = required_by(key, svc.store.load_flags())
    if users:
        names = ", ".join(repr(k) for k in users)
        raise ConflictError(
            f"flag {key!r} is required by flags {names}: remove it from their "
            "requires first"
        )
    if not svc.store.delete_flag(key):
        raise NotFoundError(f"flag {key!r} does not exist")
    svc.definitions.invalidate()


# -- segments -----------------------------------------------------------------


def get_segment(svc: Services, key: str) -> Segment:
    """One segment, read from Redis; NotFoundError if there is none."""
    found = svc.store.get_segment(parse_key(key))
    if found is None:
        raise NotFoundError(f"segment {key!r} does not exist")
    return found


def list_segments(svc: Services) -> list[Segment]:
    """Every segment, sorted by key."""
    return list(svc.store.load_segments().values())


def segment_users(svc: Services, key: str) -> dict[str, list[str]]:
    """Who uses segment ``key``: ``{"experiments": [...], "flags": [...],
    "segments": [...]}``, only the kinds that do."""
    return references(
        key,
        svc.store.load_experiments(),
        svc.store.load_flags(),
        svc.store.load_segments(),
    )


def create_segment(svc: Services, payload: Any, now: float) -> Segment:
    """Create a segment from a create body (see ``parse_segment``).

    400 naming the path for a bad value or condition, or a ``$inGroup`` that
    names no saved list segment (``condition.id.$inGroup``).
    """
    segment = parse_segment(payload, now)
    check_segment(segment, svc.store.load_segments())
    created = svc.store.create_segment(segment)
    svc.definitions.invalidate("segments")
    return created


def patch_segment(svc: Services, key: str, payload: Any, now: float) -> Segment:
    """Change ``description`` and ``values`` or ``condition`` (not the kind).

    Experiments and flags that use it see the change at once: users enrolled
    earlier keep their variation.
    """
    current = get_segment(svc, key)
    segment = parse_segment(payload, now, current)
    check_segment(segment, svc.store.load_segments())
    saved = svc.store.save_segment(segment)
    svc.definitions.invalidate("segments")
    return saved


def delete_segment(svc: Services, key: str) -> None:
    """Remove a segment; NotFoundError if there is none, ConflictError naming
    the experiments, flags and segments that still use it."""
    key = parse_key(key)
    users = segment_users(svc, key)
    if users:
        named = "; ".join(
            f"{kind} {', '.join(repr(k) for k in keys)}" for kind, keys in users.items()
        )
        raise ConflictError(f"segment {key!r} is used by {named}: remove it first")
    if not svc.store.delete_segment(key):
        raise NotFoundError(f"segment {key!r} does not exist")
    svc.definitions.invalidate("segments")
