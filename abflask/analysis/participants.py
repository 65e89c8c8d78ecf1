"""The participants table of the aggregates: sorted levels merged like an LSM tree.

One row per exposed user (fingerprint, variation, first exposure, exposed to
several variations or not), kept as sorted numpy arrays so that a chunk's
lookups are one ``searchsorted`` per level. Pure: numpy only.
"""

from __future__ import annotations

import numpy as np

NEVER = 2**62
"""An exposure time later than any record: the user is not exposed (yet)."""


class Level:
    """Participants sorted by fingerprint: one level of ``Participants``."""

    def __init__(
        self,
        user: np.ndarray,
        variation: np.ndarray,
        exposed_at: np.ndarray,
        multi: np.ndarray,
    ) -> None:
        self.user = user.astype(np.uint64, copy=False)
        self.variation = variation.astype(np.int16, copy=False)
        self.exposed_at = exposed_at.astype(np.int64, copy=False)
        self.multi = multi.astype(bool, copy=False)

    def find(self, user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row of each of the (sorted) ``user`` here and whether it is here."""
        idx = np.searchsorted(self.user, user)
        found = np.zeros(len(user), dtype=bool)
        inside = idx < len(self.user)
        found[inside] = self.user[idx[inside]] == user[inside]
        return idx, found

    def merge(self, other: Level) -> Level:
        """Both levels as one (they share no user): one pass per array."""
        if len(self.user) < len(other.user):
            return other.merge(self)
        where = np.searchsorted(self.user, other.user)
        return Level(
            *(
                np.insert(mine, where, theirs)
                for mine, theirs in zip(self.columns(), other.columns(), strict=True)
            )
        )

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.user, self.variation, self.exposed_at, self.multi


class Participants:
    """The participants as sorted levels, merged like a log-structured tree.

    New users of a chunk become a level of their own; a level is merged into
    the one before while it is at least half as large, so a user is copied
    about log2(users / chunk) times rather than once per chunk, and there
    are as many levels. Each user is in exactly one level.
    """

    def __init__(self, level: Level | None = None) -> None:
        self.levels = [level] if level is not None and len(level.user) else []

    def __len__(self) -> int:
        return sum(len(level.user) for level in self.levels)

    def exposed_at(self, user: np.ndarray) -> np.ndarray:
        """First exposure time of each user (any order); NEVER if unknown."""
        out = np.full(len(user), NEVER, dtype=np.int64)
        if self.levels:
            # Sorted queries walk each level in order: several times faster
            # than random ones once a level outgrows the CPU caches.
            order = np.argsort(user)
            wanted = user[order]
            for level in self.levels:
                idx, found = level.find(wanted)
                out[order[found]] = level.exposed_at[idx[found]]
        return out

    def add(
        self,
        user: np.ndarray,
        variation: np.ndarray,
        at: np.ndarray,
        mixed: np.ndarray,
    ) -> None:
        """Fold in exposures: one per user, sorted by user, ``mixed`` if the
        user had several variations among them."""
        new = np.ones(len(user), dtype=bool)
        for level in self.levels:
            idx, found = level.find(user)
            if not found.any():
                continue
            new &= ~found
            rows = idx[found]
            level.multi[rows] |= mixed[found] | (
                level.variation[rows] != variation[found]
            )
            earlier = at[found] < level.exposed_at[rows]
            level.variation[rows[earlier]] = variation[found][earlier]
            level.exposed_at[rows[earlier]] = at[found][earlier]
        if new.any():
            self.levels.append(Level(user[new], variation[new], at[new], mixed[new]))
            while len(self.levels) > 1 and 2 * len(self.levels[-1].user) >= len(
                self.levels[-2].user
            ):
                last = self.levels.pop()
                self.levels[-1] = self.levels[-1].merge(last)

    def merged(self) -> Level:
        """Every user in one level (which the table then keeps)."""
        if not self.levels:
            empty = np.empty(0)
            return Level(empty, empty, empty, empty)
        while len(self.levels) > 1:
            last = self.levels.pop()
            self.levels[-1] = self.levels[-1].merge(last)
        return self.levels[0]
