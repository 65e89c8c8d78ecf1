"""A worker's cache of experiment and flag definitions, read through the Store.

Definitions are re-read at most every ``ttl`` seconds, so the hot paths make
one Redis call per request. Serving a slightly old definition is safe for
writes: every script checks the definition's version and answers "stale",
and the caller refreshes and retries. When Redis is down the last good copy
is kept and served.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from abflask.core.experiment import Experiment
from abflask.core.flag import Flag
from abflask.errors import ConflictError, NotFoundError, StorageUnavailable
from abflask.storage.store import Store

logger = logging.getLogger(__name__)


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
        self._experiments: dict[str, Experiment] | None = None
        self._flags: dict[str, Flag] | None = None
        self._experiments_at = float("-inf")
        self._flags_at = float("-inf")

    def invalidate(self) -> None:
        """Forget everything; the next read goes to Redis."""
        self._experiments_at = self._flags_at = float("-inf")

    def _fresh(self, loaded_at: float) -> bool:
        return self._clock() - loaded_at < self._ttl

    def experiments(self) -> dict[str, Experiment]:
        """All experiments, from cache while fresh.

        Raises StorageUnavailable only when Redis is down and nothing was ever
        loaded; otherwise a failed reload serves the last good copy and waits
        a full ``ttl`` before trying again.
        """
        if self._experiments is not None and self._fresh(self._experiments_at):
            return self._experiments
        try:
            self._experiments = self._store.load_experiments()
        except StorageUnavailable:
            if self._experiments is None:
                raise
            logger.warning("Redis unavailable; serving cached experiments")
        self._experiments_at = self._clock()
        return self._experiments

    def experiment(self, key: str) -> Experiment:
        """One experiment; the default one is created and started if missing.

        With Redis down and no cached copy, the default experiment is still
        answered from its built-in definition (hashing needs no storage).
        """
        try:
            found = self.experiments().get(key)
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

    def _create_default(self) -> Experiment:
        try:
            created = self._store.create_experiment(
                default_experiment(self.default_key, self._wall())
            )
            logger.info("created default experiment %r", self.default_key)
        except ConflictError:  # another worker created it first
            existing = self._store.get_experiment(self.default_key)
            if existing is None:
                raise StorageUnavailable("default experiment vanished") from None
            created = existing
        self._remember(created)
        return created

    def refresh(self, key: str) -> Experiment | None:
        """Re-read one experiment after a script said our copy is stale."""
        fresh = self._store.get_experiment(key)
        if fresh is not None:
            self._remember(fresh)
        return fresh

    def _remember(self, exp: Experiment) -> None:
        current = dict(self._experiments or {})
        current[exp.key] = exp
        self._experiments = current

    def running(self) -> list[Experiment]:
        """Experiments that currently record events."""
        return [e for e in self.experiments().values() if e.status == "running"]

    def flags(self) -> dict[str, Flag]:
        """All feature flags, from cache while fresh (last good copy on failure)."""
        if self._flags is None or not self._fresh(self._flags_at):
            try:
                self._flags = self._store.load_flags()
            except StorageUnavailable:
                if self._flags is None:
                    raise
                logger.warning("Redis unavailable; serving cached flags")
            self._flags_at = self._clock()
        return self._flags

    def flag(self, key: str) -> Flag:
        """One feature flag, from cache while fresh."""
        found = self.flags().get(key)
        if found is None:
            raise NotFoundError(f"flag {key!r} does not exist")
        return found


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
        if not self._size:
            return
        if len(self._data) >= self._size:
            try:
                self._data.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                pass
        self._data[(exp.key, exp.created_at, user_id)] = variation
