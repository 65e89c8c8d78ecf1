"""Per-user aggregates of one experiment, folded from event-log chunks.

Decodes raw log records (layout in ``abflask/core/records.py``) with numpy, a chunk at a
time, and keeps two tables: one row per participant (variation, first
exposure) and one row per participant and event key (value total, count,
first time). Pure: no Redis, no files; ``analysis`` does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from abflask.core import records

PAIR_COLUMNS = ("user", "event", "value", "count", "first_at")
COMPACT_ROWS = 2_000_000
"""Pending partial aggregates (rows) that trigger a re-aggregation."""


def _gather(buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """``width`` bytes at each offset, as an (n, width) contiguous uint8 array."""
    return buf[offsets[:, None] + np.arange(width)]


def decode(raw: list[bytes]) -> dict[str, np.ndarray]:
    """Decode log records into columns: variation, exposure, at, user, event, value.

    ``user`` is the 8-byte fingerprint read as a little-endian uint64 and
    ``value`` is 0.0 where an event has none. Vectorized: no Python loop per
    record beyond taking lengths.
    """
    n = len(raw)
    if n == 0:
        empty = np.empty(0)
        return {
            k: empty for k in ("variation", "exposure", "at", "user", "event", "value")
        }
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=n)
    buf = np.frombuffer(b"".join(raw), dtype=np.uint8)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    flags = buf[starts + records.FLAGS_AT]
    exposure = (flags & records.EXPOSURE) != 0
    events = ~exposure
    event = np.zeros(n, dtype=np.uint16)
    event_at = starts[events] + records.EVENT_ID_AT
    event[events] = _gather(buf, event_at, 2).view("<u2").ravel()
    value = np.zeros(n, dtype=np.float64)
    valued = events & ((flags & records.HAS_VALUE) != 0)
    value[valued] = (
        _gather(buf, starts[valued] + records.VALUE_AT, 8).view("<f8").ravel()
    )
    at = _gather(buf, starts + records.TIME_AT, 4).view("<u4").ravel()
    return {
        "variation": buf[starts + records.VARIATION_AT].astype(np.int16),
        "exposure": exposure,
        "at": at.astype(np.int64),
        "user": _gather(buf, starts + records.USER_AT, 8).view("<u8").ravel(),
        "event": event,
        "value": value,
    }


def _empty_users() -> pd.DataFrame:
    return pd.DataFrame(
        {"variation": np.empty(0, np.int16), "exposed_at": np.empty(0, np.int64)},
        index=pd.Index(np.empty(0, np.uint64), name="user"),
    )


def _empty_pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": np.empty(0, np.uint64),
            "event": np.empty(0, np.uint16),
            "value": np.empty(0, np.float64),
            "count": np.empty(0, np.int64),
            "first_at": np.empty(0, np.int64),
        }
    )


def _combine(pairs: list[pd.DataFrame]) -> pd.DataFrame:
    """Merge partial (user, event) aggregates into one row per pair."""
    frames = [p for p in pairs if len(p)]
    if not frames:
        return _empty_pairs()
    merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out = merged.groupby(["user", "event"], sort=False, as_index=False).agg(
        value=("value", "sum"), count=("count", "sum"), first_at=("first_at", "min")
    )
    return out


@dataclass
class Aggregates:
    """Participants and their per-event totals, as folded so far.

    ``users``: index ``user`` (uint64 fingerprint) → ``variation``,
    ``exposed_at`` (first exposure, epoch seconds).
    ``pairs``: one row per (user, event id): ``value`` total, ``count``,
    ``first_at`` (earliest event time).
    ``position``: log records folded in.
    """

    users: pd.DataFrame = field(default_factory=_empty_users)
    pairs: pd.DataFrame = field(default_factory=_empty_pairs)
    position: int = 0
    _pending_users: list[pd.DataFrame] = field(default_factory=list, repr=False)
    _pending_pairs: list[pd.DataFrame] = field(default_factory=list, repr=False)
    _pending_rows: int = 0
    _compact_at: int = COMPACT_ROWS

    def fold(self, columns: dict[str, np.ndarray]) -> None:
        """Add one decoded chunk; cheap, the merging happens in ``finish``."""
        count = len(columns["user"])
        self.position += count
        if count == 0:
            return
        exposure = columns["exposure"]
        if exposure.any():
            self._pending_users.append(
                pd.DataFrame(
                    {
                        "variation": columns["variation"][exposure],
                        "exposed_at": columns["at"][exposure],
                    },
                    index=pd.Index(columns["user"][exposure], name="user"),
                )
            )
        events = ~exposure
        if events.any():
            chunk = pd.DataFrame(
                {
                    "user": columns["user"][events],
                    "event": columns["event"][events],
                    "value": columns["value"][events],
                    "count": np.ones(int(events.sum()), dtype=np.int64),
                    "first_at": columns["at"][events],
                }
            )
            self._pending_pairs.append(_combine([chunk]))
            self._pending_rows += len(self._pending_pairs[-1])
            if self._pending_rows > self._compact_at:
                self._pending_pairs = [_combine(self._pending_pairs)]
                self._pending_rows = len(self._pending_pairs[0])
                # Doubling keeps the total work linear when the distinct pairs
                # alone exceed the threshold (many users, many event keys).
                self._compact_at = max(COMPACT_ROWS, 2 * self._pending_rows)

    def finish(self) -> None:
        """Merge everything folded since the last call into ``users``/``pairs``.

        A participant keeps their first exposure; pairs of users who were
        never exposed (only possible in imported files) are dropped.
        """
        if self._pending_users:
            users = pd.concat([self.users, *self._pending_users])
            users = users[~users.index.duplicated(keep="first")]
            self.users = users
        if self._pending_pairs:
            self.pairs = _combine([self.pairs, *self._pending_pairs])
        self._pending_users, self._pending_pairs, self._pending_rows = [], [], 0
        self._compact_at = COMPACT_ROWS
        known = self.pairs["user"].isin(self.users.index)
        if not known.all():
            self.pairs = self.pairs[known].reset_index(drop=True)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for saving (see ``from_arrays``)."""
        self.finish()
        arrays = {
            "users_user": self.users.index.to_numpy(np.uint64),
            "users_variation": self.users["variation"].to_numpy(np.int16),
            "users_exposed_at": self.users["exposed_at"].to_numpy(np.int64),
            "position": np.array([self.position], dtype=np.int64),
        }
        for name in PAIR_COLUMNS:
            arrays[f"pairs_{name}"] = self.pairs[name].to_numpy()
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Aggregates:
        """Rebuild what ``to_arrays`` saved."""
        users = pd.DataFrame(
            {
                "variation": arrays["users_variation"],
                "exposed_at": arrays["users_exposed_at"],
            },
            index=pd.Index(arrays["users_user"], name="user"),
        )
        pairs = pd.DataFrame({name: arrays[f"pairs_{name}"] for name in PAIR_COLUMNS})
        return cls(users=users, pairs=pairs, position=int(arrays["position"][0]))
