"""Per-user aggregates of one experiment, folded from event-log chunks.

Decodes raw log records (layout in ``abflask/core/records.py``) with numpy, a
chunk at a time, and keeps two tables: one row per participant (variation,
first exposure, exposed to several variations or not) and one row per
participant and event key (value total, count, first time) of the events
attributed to the participant's exposure. Pure: no Redis, no files;
``analysis`` does the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from abflask.analysis.participants import NEVER, Level, Participants
from abflask.core import records
from abflask.core.experiment import Experiment

PAIR_COLUMNS = ("user", "event", "value", "count", "first_at")
COMPACT_ROWS = 2_000_000
"""Pending partial aggregates (rows) that trigger a re-aggregation."""
RULE = "exposure/1"
"""Names the attribution rule in saved states; a state under another is not used."""
TIME_LIMIT = 2**32
"""Record times are epoch seconds below this (4 bytes in the log)."""
NO_WINDOW = 2**60
"""Seconds of the conversion window of an event id without one."""
EVENT_IDS = 2**16
"""Event ids are 2 bytes."""


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


def windows(exp: Experiment, names: Mapping[int, str]) -> dict[int, int]:
    """Conversion windows by event id: seconds after exposure an event counts.

    From the experiment's metrics that have a ``window``; a metric whose event
    key has no id in ``names`` yet (never tracked) has no records to cut.
    """
    ids = {name: i for i, name in names.items()}
    return {
        ids[m.event]: int(m.window)
        for m in exp.metrics
        if m.window is not None and m.event in ids
    }


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


def _starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Where each run of equal values begins in a sorted array (non-empty)."""
    change = np.empty(len(sorted_keys), dtype=bool)
    change[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def _exposed_before(
    user: np.ndarray, at: np.ndarray, exposure: np.ndarray
) -> np.ndarray:
    """For each record, the earliest time of its user's exposures up to it in the
    chunk (itself included), or ``TIME_LIMIT`` when there is none.

    A running minimum per user: records are grouped by user (stable, so log
    order within a user is kept), and each group's times are lifted by a
    per-group offset that decreases from group to group, so one running
    minimum over the whole array restarts at every group.
    """
    order = np.argsort(user, kind="stable")
    group = np.zeros(len(user), dtype=np.int64)
    group[_starts(user[order])[1:]] = 1
    np.cumsum(group, out=group)
    step = 2 * TIME_LIMIT  # above every time and TIME_LIMIT itself
    offset = (group[-1] - group) * step
    lifted = np.where(exposure[order], at[order], TIME_LIMIT) + offset
    np.minimum.accumulate(lifted, out=lifted)
    out = np.empty(len(user), dtype=np.int64)
    out[order] = lifted - offset
    return out


def _windows_key(windows: Mapping[int, int]) -> str:
    return ",".join(f"{e}:{s}" for e, s in sorted(windows.items()))


def _parse_windows(text: str) -> dict[int, int]:
    """Windows as ``_windows_key`` writes them; ValueError otherwise."""
    out = {}
    for item in text.split(",") if text else []:
        event, seconds = item.split(":")
        out[int(event)] = int(seconds)
    return _checked(out)


def _checked(windows: Mapping[int, int]) -> dict[int, int]:
    out = {int(e): int(s) for e, s in windows.items()}
    if any(not 0 < e < EVENT_IDS or s <= 0 for e, s in out.items()):
        raise ValueError(f"windows {out} are not event ids and positive seconds")
    return out


class Aggregates:
    """Participants and their attributed per-event totals, as folded so far.

    An event is attributed to its user's exposure when the user was exposed
    in an earlier record of the log (the service writes the exposure before
    any event of the user), at or before the event's time, and, when
    ``windows`` has a conversion window for the event id (seconds), less
    than that long before it. Other events are counted in ``unattributed``
    and otherwise dropped. A user exposed more than once keeps the earliest
    exposure (the first of equal times); exposures to another variation mark
    the user ``multi``, whom results leave out.

    ``users``: index ``user`` (uint64 fingerprint) → ``variation``,
    ``exposed_at`` (first exposure, epoch seconds), ``multi``.
    ``pairs``: one row per (user, event id) with attributed events: ``value``
    total, ``count``, ``first_at`` (earliest time).
    ``position``: log records folded in.

    >>> agg = Aggregates({3: 86_400})  # event id 3 counts for a day
    >>> agg.position, agg.unattributed
    (0, 0)
    """

    def __init__(self, windows: Mapping[int, int] | None = None) -> None:
        self.windows: dict[int, int] = _checked(windows or {})
        self.position = 0
        self.unattributed = 0
        self.max_event = 0
        """The highest event id folded in so far (0 for none)."""
        self._table = Participants()
        self._users: pd.DataFrame | None = None
        self._pairs = _empty_pairs()
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0
        self._compact_at = COMPACT_ROWS

    @property
    def attribution(self) -> str:
        """The attribution rule and windows, as saved with a state."""
        return f"{RULE} windows={_windows_key(self.windows)}"

    @property
    def users(self) -> pd.DataFrame:
        """One row per participant, sorted by fingerprint (see the class)."""
        if self._users is None:
            table = self._table.merged()
            self._users = pd.DataFrame(
                {
                    "variation": table.variation,
                    "exposed_at": table.exposed_at,
                    "multi": table.multi,
                },
                index=pd.Index(table.user, name="user"),
                copy=True,  # the table changes in place
            )
        return self._users

    @property
    def pairs(self) -> pd.DataFrame:
        """One row per participant and event id (see the class)."""
        self.finish()
        return self._pairs

    def adopt(self, windows: Mapping[int, int]) -> bool:
        """Switch to ``windows`` if that changes nothing already folded.

        True when the windows of every event id folded so far are the same
        (ids above ``max_event`` have no records yet); False, unchanged,
        otherwise: the log must be folded again from the start.
        """
        new = _checked(windows)

        def seen(w: Mapping[int, int]) -> dict[int, int]:
            return {e: s for e, s in w.items() if e <= self.max_event}

        if seen(new) != seen(self.windows):
            return False
        self.windows = new
        return True

    def fold(self, columns: Mapping[str, np.ndarray]) -> None:
        """Add one decoded chunk, in log order (the merging of pairs happens in
        ``finish``). ValueError for a time outside ``[0, TIME_LIMIT)``."""
        count = len(columns["user"])
        self.position += count
        if count == 0:
            return
        user = columns["user"].astype(np.uint64, copy=False)
        at = columns["at"].astype(np.int64, copy=False)
        if int(at.min()) < 0 or int(at.max()) >= TIME_LIMIT:
            raise ValueError("record times must be epoch seconds in [0, 2**32)")
        exposure = columns["exposure"].astype(bool, copy=False)
        has_exposures = bool(exposure.any())
        events = np.flatnonzero(~exposure)
        if len(events):
            exposed_at = self._table.exposed_at(user[events])
            if has_exposures:
                in_chunk = _exposed_before(user, at, exposure)[events]
                in_chunk[in_chunk == TIME_LIMIT] = NEVER
                np.minimum(exposed_at, in_chunk, out=exposed_at)
            self._add_events(
                events, exposed_at, user, at, columns["event"], columns["value"]
            )
        if has_exposures:
            self._add_exposures(
                user[exposure], columns["variation"][exposure], at[exposure]
            )

    def _add_events(
        self,
        rows: np.ndarray,
        exposed_at: np.ndarray,
        user: np.ndarray,
        at: np.ndarray,
        event: np.ndarray,
        value: np.ndarray,
    ) -> None:
        """Attribute the events at ``rows`` and fold the attributed ones in."""
        at, event = at[rows], event[rows].astype(np.uint16, copy=False)
        self.max_event = max(self.max_event, int(event.max()))
        keep = at >= exposed_at  # NEVER is later than any time
        if self.windows:
            window = np.full(EVENT_IDS, NO_WINDOW, dtype=np.int64)
            window[list(self.windows)] = list(self.windows.values())
            keep &= at < exposed_at + window[event]
        kept = int(keep.sum())
        self.unattributed += len(rows) - kept
        if kept == 0:
            return
        # Kept as events: within one chunk few (user, event) pairs repeat, so
        # grouping happens only when enough rows are pending.
        self._pending.append(
            pd.DataFrame(
                {
                    "user": user[rows[keep]],
                    "event": event[keep],
                    "value": value[rows[keep]].astype(np.float64, copy=False),
                    "count": np.ones(kept, dtype=np.int64),
                    "first_at": at[keep],
                }
            )
        )
        self._pending_rows += kept
        if self._pending_rows > self._compact_at:
            self._pending = [_combine(self._pending)]
            self._pending_rows = len(self._pending[0])
            # Doubling keeps the total work linear when the distinct pairs
            # alone exceed the threshold (many users, many event keys).
            self._compact_at = max(COMPACT_ROWS, 2 * self._pending_rows)

    def _add_exposures(
        self, user: np.ndarray, variation: np.ndarray, at: np.ndarray
    ) -> None:
        """Merge one chunk's exposures (in log order) into the users."""
        order = np.lexsort((at, user))  # by user, then time, then log order
        user, variation, at = user[order], variation[order], at[order]
        first = _starts(user)
        mixed = np.minimum.reduceat(variation, first) != np.maximum.reduceat(
            variation, first
        )
        self._table.add(user[first], variation[first], at[first], mixed)
        self._users = None

    def finish(self) -> None:
        """Merge the pairs folded since the last call into ``pairs``."""
        if self._pending:
            self._pairs = _combine([self._pairs, *self._pending])
        self._pending, self._pending_rows = [], 0
        self._compact_at = COMPACT_ROWS

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for saving (see ``from_arrays``)."""
        table = self._table.merged()
        arrays: dict[str, np.ndarray] = {
            "users_user": table.user,
            "users_variation": table.variation,
            "users_exposed_at": table.exposed_at,
            "users_multi": table.multi,
            "position": np.array([self.position], dtype=np.int64),
            "unattributed": np.array([self.unattributed], dtype=np.int64),
            "max_event": np.array([self.max_event], dtype=np.int64),
            "attribution": np.array([self.attribution]),
        }
        pairs = self.pairs
        for name in PAIR_COLUMNS:
            arrays[f"pairs_{name}"] = pairs[name].to_numpy()
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Aggregates:
        """Rebuild what ``to_arrays`` saved.

        ValueError when the arrays cannot be a state: another attribution
        rule, users not strictly sorted, or lengths that differ.
        """
        rule, _, text = str(arrays["attribution"][0]).partition(" windows=")
        if rule != RULE:
            raise ValueError(f"attribution rule {rule!r} is not {RULE!r}")
        agg = cls(_parse_windows(text))
        user = arrays["users_user"]
        if len(user) > 1 and not bool(np.all(user[1:] > user[:-1])):
            raise ValueError("users are not sorted")
        columns = [arrays[f"users_{c}"] for c in ("variation", "exposed_at", "multi")]
        if any(len(c) != len(user) for c in columns):
            raise ValueError("users_* arrays differ in length")
        # Copies: the table changes in place, the caller's arrays must not.
        agg._table = Participants(Level(user.copy(), *(c.copy() for c in columns)))
        agg._pairs = pd.DataFrame(
            {name: arrays[f"pairs_{name}"] for name in PAIR_COLUMNS}
        )
        agg.position = int(arrays["position"][0])
        agg.unattributed = int(arrays["unattributed"][0])
        agg.max_event = int(arrays["max_event"][0])
        return agg
