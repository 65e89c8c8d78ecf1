"""The analysis job: event logs from Redis → per-user aggregates → results.

Reads each experiment's log in chunks through the Store, incrementally: the
per-user aggregates are kept in a state file and Redis remembers how far they
go, so an hourly run reads only what arrived since. A lock in Redis, renewed
while the run works, keeps two runs from overlapping; a state file that cannot
be read only costs a full read. Never imports Flask.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from abflask.analysis import aggregate, csvfile, results
from abflask.analysis.aggregate import Aggregates
from abflask.core.experiment import Experiment
from abflask.core.stats.schema import ExperimentResult
from abflask.errors import ConflictError, ValidationError
from abflask.storage.store import Store

logger = logging.getLogger(__name__)

CHUNK = 50_000
"""Log records read per round trip."""
LOCK = "analysis"
LOCK_TTL = 900
"""Seconds the lock lasts unless renewed: how long a crashed run blocks the next."""
RENEW_AFTER = 60.0
"""Seconds between renewals of the lock while a run works."""
UNREADABLE = (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile)
"""What reading a torn, truncated or foreign state file raises."""
SCALARS = ("position", "unattributed", "max_event")
"""The one-number arrays of a state file (counts, never negative)."""


class Lease:
    """This run's hold on the analysis lock, renewed between chunks and experiments.

    ``keep()`` renews the lock once ``RENEW_AFTER`` seconds have passed (or
    always with ``force=True``, before anything is written), and raises
    ``ConflictError`` if the lock expired or another run holds it: then this
    run must stop without writing, since the other run owns the results.
    """

    def __init__(
        self, store: Store, token: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store, self.token, self._clock = store, token, clock
        self._renewed = clock()

    def keep(self, *, force: bool = False) -> None:
        """Renew the lock if due; ConflictError if it was lost (one round trip)."""
        if not force and self._clock() - self._renewed < RENEW_AFTER:
            return
        if not self._store.renew_lock(LOCK, self.token, LOCK_TTL):
            raise ConflictError(
                "the analysis lock expired or was taken by another run; "
                "stopping without writing"
            )
        self._renewed = self._clock()


class Progress:
    """A tqdm bar on a terminal; periodic log lines under cron."""

    def __init__(self, total: int, label: str, tty: bool) -> None:
        self._bar: Any = None
        self._label, self._total, self._done, self._logged = label, total, 0, 0.0
        if tty:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=label, unit="rec", unit_scale=True, leave=False
            )

    def update(self, count: int) -> None:
        self._done += count
        if self._bar is not None:
            self._bar.update(count)
        elif time.monotonic() - self._logged > 10:
            self._logged = time.monotonic()
            logger.info("%s: %d/%d records", self._label, self._done, self._total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def state_path(state_dir: Path, prefix: str, key: str) -> Path:
    """Where the per-user aggregates of one experiment are kept.

    One directory per key prefix and one ``<key>.npz`` per experiment: distinct
    experiments (``a`` and ``a.tmp``, prefix ``t-a`` and key ``b`` against
    prefix ``t`` and key ``a-b``) never share a path, and no state path ends
    like the temporary files of ``save_state`` (``.tmp``).
    """
    return state_dir / prefix / f"{key}.npz"


def _check_arrays(arrays: dict[str, np.ndarray]) -> None:
    """ValueError unless ``arrays`` have the names, dtypes and shapes of a state."""
    expected = Aggregates().to_arrays()
    if set(arrays) != set(expected):
        raise ValueError(f"arrays {sorted(arrays)} are not a state")
    for name, want in expected.items():
        got = arrays[name]
        same = got.dtype == want.dtype or (got.dtype.kind == want.dtype.kind == "U")
        if not same or got.ndim != 1:
            raise ValueError(f"array {name} is {got.dtype}{got.shape}")
    for group in ("users_", "pairs_"):
        sizes = {len(a) for n, a in arrays.items() if n.startswith(group)}
        if len(sizes) != 1:
            raise ValueError(f"{group}* arrays differ in length")
    for name in SCALARS:
        if len(arrays[name]) != 1 or int(arrays[name][0]) < 0:
            raise ValueError(f"no valid {name}")
    if len(arrays["attribution"]) != 1:
        raise ValueError("no attribution")


def load_state(
    path: Path, state_id: str, position: int, windows: Mapping[int, int] | None = None
) -> Aggregates | None:
    """The saved aggregates if they are exactly the ones Redis' bookmark names.

    None (read everything again) when there is no file, when it belongs to
    another bookmark, when it was folded under other conversion ``windows``
    (event id → seconds; logged), or when it cannot be read: a torn or
    foreign file is logged, never fatal. The aggregates returned attribute
    what they fold next with ``windows``.
    """
    if not state_id or not path.exists():
        return None
    try:
        # Our own handle: np.load leaks the one it opens when the zip is torn.
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        saved_id = arrays.pop("state_id")
        if saved_id.shape != (1,) or str(saved_id[0]) != state_id:
            return None
        _check_arrays(arrays)
        agg = Aggregates.from_arrays(arrays)
    except UNREADABLE as exc:
        logger.warning("state file %s is unreadable (%s); ignoring it", path, exc)
        return None
    if agg.position != position:
        return None
    if not agg.adopt(windows or {}):
        logger.info(
            "state file %s was folded with other conversion windows; ignoring it",
            path,
        )
        return None
    return agg


def save_state(path: Path, agg: Aggregates) -> str:
    """Write the aggregates atomically; returns the new state id.

    Each call writes through its own temporary file (two runs never share
    one) and renames it over ``path``: a reader sees the old file or the new
    one, never a mix.
    """
    state_id = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"state_id": np.array([state_id]), **agg.to_arrays()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return state_id


def read_log(
    store: Store, key: str, start: int, end: int, progress: Callable[[int], None]
) -> Iterator[list[bytes]]:
    """Raw records ``[start, end)`` of an experiment's log, a chunk at a time."""
    for pos in range(start, end, CHUNK):
        chunk = store.read_log(key, pos, min(CHUNK, end - pos))
        progress(len(chunk))
        yield chunk


def analyse_experiment(
    store: Store,
    exp: Experiment,
    state_dir: Path,
    *,
    full: bool,
    tty: bool,
    now: float,
    write: bool = True,
    lease: Lease | None = None,
    phase: int | None = None,
) -> ExperimentResult:
    """Fold what is new in one experiment's log and compute the results of its
    ``phase`` (None: the current one).

    Events count only after their user's exposure and within their metric's
    conversion window (``aggregate.Aggregates``); a state folded with other
    windows is not used. With a ``lease``, the lock is renewed between chunks
    and checked again right before anything is written (ConflictError if it
    was lost).
    """

    def keep() -> None:
        if lease is not None:
            lease.keep()

    path = state_path(state_dir, store.prefix, exp.key)
    position, state_id = store.bookmark(exp.key)
    end = store.log_length(exp.key)
    # After the length: every event id of the records read has a name.
    names = store.event_names(exp.key)
    windows = aggregate.windows(exp, names)
    agg = None if full else load_state(path, state_id, position, windows)
    if agg is None or end < agg.position:
        if position and not full:
            logger.info("%s: no matching state file; reading the whole log", exp.key)
        agg = Aggregates(windows)
    progress = Progress(end - agg.position, exp.key, tty)
    try:
        for chunk in read_log(store, exp.key, agg.position, end, progress.update):
            agg.fold(aggregate.decode(chunk))
            keep()
    finally:
        progress.close()
    result = results.compute(exp, agg, names, now, phase=phase)
    if write:
        if lease is not None:
            lease.keep(force=True)
        new_id = save_state(path, agg)
        store.save_results(exp.key, result, agg.position, new_id, now)
    logger.info("%s: %d records analysed", exp.key, agg.position)
    return result


def _split(raw: str | None) -> list[str]:
    return [x for x in raw.split(",") if x] if raw else []


def _ignore(count: int) -> None:
    """A progress callback that shows nothing (CSV export)."""


def run(
    args: argparse.Namespace, settings: dict[str, Any], tty: bool
) -> list[ExperimentResult] | None:
    """Analyse what ``args`` name and return the results (raises AbflaskError).

    None when there is nothing to report: an export, or another run holds the
    lock (its reports must not be overwritten with empty ones).
    """
    now = time.time()
    if args.input is not None:
        definition = None
        if args.definition is not None:
            definition = csvfile.load_definition(args.definition)
        exp, agg, names = csvfile.from_csv(
            args.input,
            args.experiment or (definition.key if definition else ""),
            variations=_split(args.variations),
            metrics=_split(args.metrics),
            weights=args.weights,
            definition=definition,
        )
        return [results.compute(exp, agg, names, now, phase=args.phase)]
    store = Store.from_url(
        settings["REDIS_URL"],
        prefix=settings["ABFLASK_KEY_PREFIX"],
        timeout=max(settings["ABFLASK_REDIS_TIMEOUT"], 10.0),
    )
    experiments = store.load_experiments()
    if args.experiment is not None:
        if args.experiment not in experiments:
            raise ValidationError("experiment", f"no experiment {args.experiment!r}")
        experiments = {args.experiment: experiments[args.experiment]}
    if args.export is not None:
        exp = experiments[args.experiment]
        chunks = read_log(store, exp.key, 0, store.log_length(exp.key), _ignore)
        names = store.event_names(exp.key)
        rows = csvfile.export_csv(chunks, exp, names, args.export)
        logger.info("wrote %d rows to %s", rows, args.export)
        return None
    token = uuid.uuid4().hex
    if not store.acquire_lock(LOCK, token, LOCK_TTL):
        logger.info("another analysis run holds the lock; nothing to do")
        return None
    state_dir = args.state_dir or Path(settings["ABFLASK_DATA_DIR"]) / "analysis"
    lease = Lease(store, token)
    try:
        found = []
        for exp in experiments.values():
            lease.keep()
            found.append(
                analyse_experiment(
                    store,
                    exp,
                    state_dir,
                    full=args.full,
                    tty=tty,
                    now=now,
                    # The stored results are the current phase's: those of
                    # another phase are shown, never stored.
                    write=not args.no_write and args.phase is None,
                    lease=lease,
                    phase=args.phase,
                )
            )
        return found
    finally:
        store.release_lock(LOCK, token)
