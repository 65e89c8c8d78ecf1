"""A worker's cache of experiment, flag and segment definitions, kept current by push.

Every change is published on the store's change channel (``invalidate``) and
each worker process listens in one thread, started lazily on first use (so
after gunicorn forks): a message, or a (re)subscription after which messages
may have been missed, makes the next read reload everything. A definition
missing from the cache is re-read from Redis before anyone is told it does
not exist; unknown keys are remembered until the next change so they cannot
hammer Redis. While no listener is live, nothing cached is served for longer
than ``UNCONFIRMED_SECONDS``; ``ttl`` bounds the age of anything served
regardless. Writes need none of this to be safe: every script checks the
definition's version and answers "stale", and the caller refreshes and
retries. When Redis is down the last good copy is kept and served.

What evaluation reads is prepared once per definition, not per request: an
experiment's audience with its segments looked up (``target``) and every flag
compiled with the segments (``compiled_flags``), redone when a definition they
depend on is reloaded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Generic, NamedTuple, TypeVar

from abflask.core.experiment import Experiment
from abflask.core.flag import CompiledFlag, Flag
from abflask.core.segment import Segment, UsesSegments
from abflask.core.targeting import NOBODY, Target, resolve
from abflask.errors import ConflictError, NotFoundError, StorageUnavailable
from abflask.storage.changes import ChangeListener
from abflask.storage.store import Store

logger = logging.getLogger(__name__)

UNCONFIRMED_SECONDS = 0.05
"""Seconds a cached definition may be served while no change listener is live."""
MISSES = 10_000
"""Unknown keys a worker remembers (until the next change) instead of re-reading."""

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class _Cached(NamedTuple, Generic[T]):
    value: dict[str, T]
    generation: int
    """The worker's change count when the load began."""
    loaded_at: float


class _Target(NamedTuple):
    exp: Experiment
    """The definition it was resolved for (compared by identity)."""
    segments: Mapping[str, Segment] | None
    """The segments it was resolved with; None when it names none."""
    target: Target | None


class _CompiledFlags(NamedTuple):
    flags: Mapping[str, Flag]
    segments: Mapping[str, Segment] | None
    """None when no flag names a segment."""
    value: dict[str, CompiledFlag]


def default_experiment(key: str, now: float) -> Experiment:
    """The classic two-group experiment, running: ``control`` / ``experiment``."""
    return Experiment(
        key=key,
        variations=("control", "experiment"),
        name="Default experiment",
        status="running",
        created_at=now,
        started_at=now,
    )


def _named(
    definition: UsesSegments, segments: Mapping[str, Segment]
) -> dict[str, Segment]:
    """The segments ``definition`` names, and the list segments those name.

    Resolving against these alone keeps each evaluation's saved groups as
    small as what it uses, however many segments are saved.
    """
    found = {k: segments[k] for k in definition.segment_refs() if k in segments}
    for segment in list(found.values()):
        found.update({k: segments[k] for k in segment.segment_refs() if k in segments})
    return found


def _bounded_put(cache: OrderedDict[K, V], key: K, value: V, size: int) -> None:
    """Insert ``key``, first evicting the oldest entries beyond ``size``."""
    while len(cache) >= size:
        try:
            cache.popitem(last=False)
        except KeyError:  # emptied by another thread meanwhile
            break
    cache[key] = value


class Definitions:
    """Cached definitions for one worker process (thread-safe by reference swaps)."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float,
        default_key: str,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self.default_key = default_key
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._generation = 0
        self._listener: ChangeListener | None = None
        self._listener_pid = 0
        self._experiments: _Cached[Experiment] | None = None
        self._flags: _Cached[Flag] | None = None
        self._segments: _Cached[Segment] | None = None
        self._targets: dict[str, _Target] = {}
        self._compiled: _CompiledFlags | None = None
        self._misses: OrderedDict[str, tuple[int, float]] = OrderedDict()

    # -- freshness -------------------------------------------------------------

    def _changed(self, message: str | None) -> None:
        """The listener's handler: any change (or a resubscription) stales all."""
        with self._lock:
            self._generation += 1

    def invalidate(self, what: str = "*") -> None:
        """After a change: forget this worker's copy and tell every other worker.

        ``what`` names the kind that changed (``segments``; ``*`` for any):
        every worker reloads everything regardless. A failed announcement is
        logged, not raised (the change itself is stored): other workers then
        see it within ``ttl``.
        """
        self._changed(None)
        try:
            self._store.publish_change(what)
        except StorageUnavailable as exc:
            logger.warning("definition change not announced: %s", exc)

    def _max_age(self) -> float:
        """How long a load may be served: ``ttl``, or less without a live listener."""
        pid = os.getpid()
        if self._listener_pid != pid:  # first use, or a forked child
            with self._lock:
                if self._listener_pid != pid:
                    handler = weakref.WeakMethod(self._changed)
                    self._listener = self._store.listen_changes(handler)
                    self._listener_pid = pid
                    self._generation += 1  # nothing loaded before counts
        live = self._listener is not None and self._listener.live
        return self._ttl if live else min(self._ttl, UNCONFIRMED_SECONDS)

    def _fresh(self, cached: _Cached[T] | None) -> bool:
        max_age = self._max_age()
        return (
            cached is not None
            and cached.generation == self._generation
            and self._clock() - cached.loaded_at < max_age
        )

    def _load(
        self, cached: _Cached[T] | None, load: Callable[[], dict[str, T]]
    ) -> _Cached[T]:
        """Reload; on failure keep serving the last good copy (or raise without one)."""
        generation = self._generation  # taken first: a change during the load
        try:  # leaves this copy stale
            return _Cached(load(), generation, self._clock())
        except StorageUnavailable:
            if cached is None:
                raise
            logger.warning("Redis unavailable; serving cached definitions")
            return _Cached(cached.value, generation, self._clock())

    def close(self) -> None:
        """Stop this process's change listener (tests; workers just exit)."""
        if self._listener is not None:
            self._listener.close(timeout=5)

    # -- experiments -----------------------------------------------------------

    def experiments(self) -> dict[str, Experiment]:
        """All experiments, from cache while fresh.

        Raises StorageUnavailable only when Redis is down and nothing was ever
        loaded; otherwise a failed reload serves the last good copy.
        """
        cached = self._experiments
        fresh = self._fresh(cached)  # always asked: starts the listener
        if cached is None or not fresh:
            cached = self._experiments = self._load(
                cached, self._store.load_experiments
            )
        return cached.value

    def experiment(self, key: str) -> Experiment:
        """One experiment; the default one is created and started if missing.

        A key missing from the cache is re-read from Redis before NotFoundError
        (it may have been created a moment ago). With Redis down and no cached
        copy, the default experiment is still answered from its built-in
        definition (hashing needs no storage).
        """
        try:
            found = self.experiments().get(key) or self._reread(
                key, lambda: self._store.get_experiment(key), self._remember
            )
        except StorageUnavailable:
            if key == self.default_key:
                return default_experiment(key, self._wall())
            raise
        if found is None and key == self.default_key:
            try:
                found = self._create_default()
            except StorageUnavailable:
                return default_experiment(key, self._wall())
        if found is None:
            raise NotFoundError(f"experiment {key!r} does not exist")
        return found

    def _known_missing(self, key: str) -> bool:
        max_age = self._max_age()
        seen = self._misses.get(key)
        return (
            seen is not None
            and seen[0] == self._generation
            and self._clock() - seen[1] < max_age
        )

    def _missing(self, key: str, generation: int) -> None:
        self._misses.pop(key, None)  # re-inserted last: the newest
        _bounded_put(self._misses, key, (generation, self._clock()), MISSES)

    def _reread(
        self, miss: str, read: Callable[[], T | None], remember: Callable[[T], None]
    ) -> T | None:
        """A cache miss, read from Redis (once per ``miss`` until the next change)."""
        if self._known_missing(miss):
            return None
        generation = self._generation
        found = read()
        if found is None:
            self._missing(miss, generation)
        else:
            remember(found)
        return found

    def _create_default(self) -> Experiment:
        try:
            created = self._store.create_experiment(
                default_experiment(self.default_key, self._wall())
            )
            logger.info("created default experiment %r", self.default_key)
            self.invalidate()
        except ConflictError:  # another worker created it first
            existing = self._store.get_experiment(self.default_key)
            if existing is None:
                raise StorageUnavailable("default experiment vanished") from None
            created = existing
        self._remember(created)
        return created

    def refresh(self, key: str) -> Experiment | None:
        """Re-read one experiment after a script said our copy is stale."""
        generation = self._generation
        fresh = self._store.get_experiment(key)
        if fresh is not None:
            self._remember(fresh)
        else:
            self._forget(key)
            self._missing(key, generation)
        return fresh

    def _remember(self, exp: Experiment) -> None:
        cached = self._experiments
        if cached is not None:
            self._experiments = cached._replace(value={**cached.value, exp.key: exp})
        self._misses.pop(exp.key, None)

    def _forget(self, key: str) -> None:
        cached = self._experiments
        if cached is not None and key in cached.value:
            value = {k: e for k, e in cached.value.items() if k != key}
            self._experiments = cached._replace(value=value)

    def running(self) -> list[Experiment]:
        """Experiments that currently record events."""
        return [e for e in self.experiments().values() if e.status == "running"]

    # -- flags -----------------------------------------------------------------

    def flags(self) -> dict[str, Flag]:
        """All feature flags, from cache while fresh (last good copy on failure)."""
        cached = self._flags
        fresh = self._fresh(cached)  # always asked: starts the listener
        if cached is None or not fresh:
            cached = self._flags = self._load(cached, self._store.load_flags)
        return cached.value

    def _remember_flag(self, flag: Flag) -> None:
        cached = self._flags
        if cached is not None:
            self._flags = cached._replace(value={**cached.value, flag.key: flag})

    def flag(self, key: str) -> Flag:
        """One feature flag; a miss is re-read from Redis before NotFoundError."""
        found = self.flags().get(key) or self._reread(
            f"flag:{key}", lambda: self._store.get_flag(key), self._remember_flag
        )
        if found is None:
            raise NotFoundError(f"flag {key!r} does not exist")
        return found

    def compiled_flags(self) -> Mapping[str, CompiledFlag]:
        """Every flag ready to evaluate (``core.flag.evaluate``): compiled with
        the segments once per reload of either, not per request."""
        flags = self.flags()
        memo = self._compiled
        if memo is None or memo.flags is not flags:
            needs = any(f.segment_refs() for f in flags.values())
        else:
            needs = memo.segments is not None
        segments = self.segments() if needs else None
        if memo is not None and memo.flags is flags and memo.segments is segments:
            return memo.value
        known = segments or {}
        value = {k: f.compile(_named(f, known)) for k, f in flags.items()}
        self._compiled = _CompiledFlags(flags, segments, value)
        return value

    # -- segments --------------------------------------------------------------

    def segments(self) -> dict[str, Segment]:
        """All segments, from cache while fresh (last good copy on failure)."""
        cached = self._segments
        fresh = self._fresh(cached)  # always asked: starts the listener
        if cached is None or not fresh:
            cached = self._segments = self._load(cached, self._store.load_segments)
        return cached.value

    def target(self, exp: Experiment) -> Target | None:
        """Who may enter ``exp``, its segments looked up; None: everyone.

        Resolved once per definition of ``exp`` and of the segments, so a
        request only evaluates the conditions. With Redis down and segments
        never loaded, an experiment that names one matches nobody (fails
        closed) until they can be read.
        """
        if exp.condition is None and not exp.segments:
            return None
        known = self._targets.get(exp.key)
        if known is not None and known.exp is not exp:
            known = None  # resolved for an older definition
        if known is not None and known.segments is None:
            return known.target  # it names no segment
        segments: Mapping[str, Segment] | None = None
        if known is not None or exp.segment_refs():
            try:
                segments = self.segments()
            except StorageUnavailable:
                logger.warning("segments unavailable: %r targets nobody", exp.key)
                return NOBODY
            if known is not None and known.segments is segments:
                return known.target
        target = resolve(exp.audience, _named(exp, segments or {}))
        self._targets[exp.key] = _Target(exp, segments, target)
        return target


class AssignmentCache:
    """A worker's memory of stored assignments: once stored, they never change.

    Keyed by experiment key, creation time (a deleted and re-created
    experiment starts afresh) and user. Oldest entries go first beyond
    ``size``; ``size`` 0 turns the cache off.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[tuple[str, float | None, str], int] = OrderedDict()

    def get(self, exp: Experiment, user_id: str) -> int | None:
        """The stored variation index, if this worker has seen it."""
        return self._data.get((exp.key, exp.created_at, user_id))

    def put(self, exp: Experiment, user_id: str, variation: int) -> None:
        """Remember a stored assignment."""
        if self._size:
            _bounded_put(
                self._data, (exp.key, exp.created_at, user_id), variation, self._size
            )
