"""The analysis job: event logs from Redis → per-user aggregates → results.

Reads each experiment's log in chunks through the Store, incrementally: the
per-user aggregates are kept in a state file and Redis remembers how far they
go, so an hourly run reads only what arrived since. A lock in Redis keeps two
runs from overlapping. Never imports Flask.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from abflask.analysis import aggregate, csvfile, results
from abflask.analysis.aggregate import Aggregates
from abflask.analysis.results import ExperimentResult
from abflask.core.experiment import Experiment
from abflask.errors import ValidationError
from abflask.storage.store import Store

logger = logging.getLogger(__name__)

CHUNK = 50_000
"""Log records read per round trip."""
LOCK = "analysis"
LOCK_TTL = 3600
"""Seconds a crashed run's lock lasts before another run may start."""


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
    """Where the per-user aggregates of one experiment are kept."""
    return state_dir / f"{prefix}-{key}.npz"


def load_state(path: Path, state_id: str, position: int) -> Aggregates | None:
    """The saved aggregates if they are exactly the ones Redis' bookmark names."""
    if not state_id or not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    if str(arrays.pop("state_id")[0]) != state_id:
        return None
    agg = Aggregates.from_arrays(arrays)
    return agg if agg.position == position else None


def save_state(path: Path, agg: Aggregates) -> str:
    """Write the aggregates atomically; returns the new state id."""
    state_id = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    arrays = {"state_id": np.array([state_id]), **agg.to_arrays()}
    np.savez(tmp, allow_pickle=False, **arrays)
    os.replace(tmp, path)
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
) -> ExperimentResult:
    """Fold what is new in one experiment's log and compute its results."""
    path = state_path(state_dir, store.prefix, exp.key)
    position, state_id = store.bookmark(exp.key)
    end = store.log_length(exp.key)
    agg = None if full else load_state(path, state_id, position)
    if agg is None or end < agg.position:
        if position and not full:
            logger.info("%s: no matching state file; reading the whole log", exp.key)
        agg = Aggregates()
    progress = Progress(end - agg.position, exp.key, tty)
    try:
        for chunk in read_log(store, exp.key, agg.position, end, progress.update):
            agg.fold(aggregate.decode(chunk))
    finally:
        progress.close()
    names = store.event_names(exp.key)
    result = results.compute(exp, agg, names, now)
    if write:
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
        exp, agg, names = csvfile.from_csv(
            args.input,
            args.experiment,
            _split(args.variations) or None,
            _split(args.metrics),
        )
        return [results.compute(exp, agg, names, now)]
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
    try:
        return [
            analyse_experiment(
                store,
                exp,
                state_dir,
                full=args.full,
                tty=tty,
                now=now,
                write=not args.no_write,
            )
            for exp in experiments.values()
        ]
    finally:
        store.release_lock(LOCK, token)
