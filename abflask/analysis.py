"""The analysis job: event logs from Redis (or a CSV file) → results and reports.

Reads each experiment's log in chunks through the Store, incrementally: the
per-user aggregates are kept in a state file and Redis remembers how far they
go, so an hourly run reads only what arrived since. Never imports Flask.
``main(argv)`` returns the exit status: 0 done (or another run holds the
lock), 1 failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abflask import aggregate, config, report, results
from abflask.aggregate import Aggregates
from abflask.errors import AbflaskError, ValidationError
from abflask.models import Experiment
from abflask.store import Store

logger = logging.getLogger(__name__)

CHUNK = 50_000
"""Log records read per round trip."""
LOCK = "analysis"
LOCK_TTL = 3600
"""Seconds a crashed run's lock lasts before another run may start."""
EXPOSURE_EVENT = "$exposure"
CSV_COLUMNS = ["user_id", "variation", "event", "value", "timestamp"]


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
) -> dict[str, Any]:
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


def export_csv(store: Store, exp: Experiment, out: Path) -> int:
    """Write an experiment's log as CSV (user_id = fingerprint hex); rows written."""
    names = store.event_names(exp.key)
    end, rows = store.log_length(exp.key), 0
    with out.open("w", newline="") as fh:
        fh.write(",".join(CSV_COLUMNS) + "\n")
        for chunk in read_log(store, exp.key, 0, end, lambda n: None):
            cols = aggregate.decode(chunk)
            frame = pd.DataFrame(
                {
                    "user_id": [f"{u:016x}" for u in cols["user"]],
                    "variation": np.asarray(exp.variations, dtype=object)[
                        cols["variation"]
                    ],
                    "event": [
                        EXPOSURE_EVENT if x else names.get(int(e), str(e))
                        for x, e in zip(cols["exposure"], cols["event"], strict=True)
                    ],
                    "value": np.where(cols["exposure"], np.nan, cols["value"]),
                    "timestamp": cols["at"],
                }
            )
            frame.to_csv(fh, header=False, index=False, float_format="%.17g")
            rows += len(frame)
    return rows


def from_csv(
    path: Path, key: str, variations: list[str] | None, metrics: list[str]
) -> tuple[Experiment, Aggregates, dict[int, str]]:
    """Aggregates from an exported or hand-made CSV file (see CSV_COLUMNS)."""
    frame = pd.read_csv(path, dtype={"user_id": str, "variation": str, "event": str})
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError("input", f"{path}: missing columns {', '.join(missing)}")
    seen = list(dict.fromkeys(frame.loc[frame["event"] == EXPOSURE_EVENT, "variation"]))
    order = variations or sorted(
        seen, key=lambda v: (v.lower() not in ("control", "a"), v)
    )
    if len(order) < 2 or set(seen) - set(order):
        raise ValidationError(
            "variations", f"{path}: variations {seen} do not match {order}"
        )
    exp = Experiment(
        key=key, variations=tuple(order), metrics=tuple(metrics), status="running"
    )
    user_codes, _ = pd.factorize(frame["user_id"])
    event_codes, event_names = pd.factorize(frame["event"])
    is_exposure = (frame["event"] == EXPOSURE_EVENT).to_numpy()
    var_index = {name: i for i, name in enumerate(order)}
    agg = Aggregates()
    agg.fold(
        {
            "variation": frame["variation"].map(var_index).fillna(0).to_numpy(np.int16),
            "exposure": is_exposure,
            "at": frame["timestamp"].to_numpy(np.int64),
            "user": user_codes.astype(np.uint64),
            "event": (event_codes + 1).astype(np.uint16),
            "value": frame["value"].fillna(0.0).to_numpy(np.float64),
        }
    )
    names = {i + 1: str(n) for i, n in enumerate(event_names) if n != EXPOSURE_EVENT}
    return exp, agg, names


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analyze.py", description="Analyse abflask experiments."
    )
    p.add_argument("--experiment", metavar="KEY", help="only this experiment")
    p.add_argument("--full", action="store_true", help="recompute from the start")
    p.add_argument(
        "--input",
        type=Path,
        metavar="FILE.csv",
        help="analyse a CSV file instead of Redis (needs --experiment)",
    )
    p.add_argument("--variations", help="CSV input: variation names, control first")
    p.add_argument("--metrics", help="CSV input: event keys to analyse")
    p.add_argument(
        "--export",
        type=Path,
        metavar="FILE.csv",
        help="write --experiment's log as CSV and stop",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--csv", type=Path, metavar="DIR", help="also write CSV files")
    p.add_argument(
        "--html", type=Path, metavar="FILE", help="also write an HTML report"
    )
    p.add_argument("--state-dir", type=Path, help="default: $ABFLASK_DATA_DIR/analysis")
    p.add_argument(
        "--no-write",
        action="store_true",
        help="do not store results or state (a dry run)",
    )
    return p


def _split(raw: str | None) -> list[str]:
    return [x for x in raw.split(",") if x] if raw else []


def run(
    args: argparse.Namespace, settings: dict[str, Any], tty: bool
) -> list[dict[str, Any]] | None:
    """Analyse what ``args`` name and return the results (raises AbflaskError).

    None when there is nothing to report: an export, or another run holds the
    lock (its reports must not be overwritten with empty ones).
    """
    now = time.time()
    if args.input is not None:
        exp, agg, names = from_csv(
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
        rows = export_csv(store, experiments[args.experiment], args.export)
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


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see ``--help``."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
        return int(exc.code or 0)
    if (args.input or args.export) and not args.experiment:
        parser.print_usage(sys.stderr)
        print("analyze.py: --input and --export need --experiment", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("abflask").setLevel(logging.INFO)
    try:
        settings = config.load()
        found = run(args, settings, tty)
        if found is None:
            return 0
        report.emit(found, args.format, sys.stdout)
        if args.csv:
            report.write_csv(found, args.csv)
        if args.html:
            from abflask import report_html

            report_html.write(found, args.html)
    except AbflaskError as exc:
        logger.error("analysis failed: %s", exc)
        return 1
    except (OSError, ValueError) as exc:
        logger.error("analysis failed: %s", exc)
        return 1
    return 0
