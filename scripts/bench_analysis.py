"""Analysis speed and memory: --full over N events, then an incremental run.

Loads one experiment's event log into a private Redis (participants'
exposure records, then events of three kinds, half with a value, dated from
a day before to two weeks after the exposures, so attribution drops some and
the purchase metric's 7-day window cuts others), runs ``scripts/analyze.py
--full`` and then, after M more events, an incremental run, each in a
subprocess so its peak memory is measured alone. A naive baseline reads the
whole log in one LRANGE and aggregates record by record in Python. Not run by
pytest.

    python scripts/bench_analysis.py [--events 10000000] [--users 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from abflask.core import records as layout
from abflask.core.event import Event
from abflask.core.experiment import Experiment
from abflask.core.metric import Metric
from abflask.core.records import decode_record
from abflask.storage import localredis
from abflask.storage.packing import pack_event
from abflask.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent

FULL_TARGET_S, INCREMENTAL_TARGET_S, MEMORY_TARGET_MB = 60.0, 6.0, 2048.0
"""Targets: seconds for --full over 10M events, seconds for 1M new, peak MiB."""
KEY = "bench"
DAY = 86_400
"""Seconds."""


def records(
    users: np.ndarray,
    variation: np.ndarray,
    kinds: np.ndarray | None,
    values: np.ndarray | None,
    at: int | np.ndarray,
) -> list[bytes]:
    """Build log records with numpy, at the offsets ``abflask.core.records`` names."""
    n = len(users)
    if kinds is None:
        width, flags = layout.EXPOSURE_SIZE, layout.EXPOSURE
    elif values is None:
        width, flags = layout.EVENT_SIZE, 0
    else:
        width, flags = layout.VALUED_EVENT_SIZE, layout.HAS_VALUE
    rows = np.zeros((n, width), dtype=np.uint8)

    def put(offset: int, column: np.ndarray, dtype: str) -> None:
        raw = np.frombuffer(column.astype(dtype).tobytes(), np.uint8).reshape(n, -1)
        rows[:, offset : offset + raw.shape[1]] = raw

    rows[:, layout.VARIATION_AT] = variation
    rows[:, layout.FLAGS_AT] = flags
    put(layout.TIME_AT, np.broadcast_to(at, n), "<u4")
    put(layout.USER_AT, users, "<u8")
    if kinds is not None:
        put(layout.EVENT_ID_AT, kinds, "<u2")
    if values is not None:
        put(layout.VALUE_AT, values, "<f8")
    flat = rows.tobytes()
    return [flat[i * width : (i + 1) * width] for i in range(n)]


def load(
    store: Store,
    rng: np.random.Generator,
    users: np.ndarray,
    variation: np.ndarray,
    count: int,
    at: int,
) -> None:
    """Append ``count`` events of random participants, half with a value,
    dated from a day before ``at`` to two weeks after it."""
    for start in range(0, count, 1_000_000):
        n = min(1_000_000, count - start)
        pick = rng.integers(0, len(users), n)
        kinds = rng.integers(1, 4, n)
        times = at + rng.integers(-DAY, 14 * DAY, n)
        half = n // 2
        store.append_log(
            KEY,
            records(
                users[pick[:half]],
                variation[pick[:half]],
                kinds[:half],
                rng.gamma(2.0, 10.0, half),
                times[:half],
            ),
        )
        store.append_log(
            KEY,
            records(
                users[pick[half:]],
                variation[pick[half:]],
                kinds[half:],
                None,
                times[half:],
            ),
        )


def analyse(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Run the job in a child process: (seconds, that child's peak RSS in MiB)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "analyze.py"),
            "--experiment",
            KEY,
            "--format",
            "json",
            *args,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"analyze.py failed with {child.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def naive(store: Store) -> float:
    """Read everything at once and aggregate record by record: the baseline."""
    started = time.perf_counter()
    raw = store.read_log(KEY, 0, store.log_length(KEY))
    variation: dict[bytes, int] = {}
    totals: dict[tuple[bytes, int], float] = defaultdict(float)
    for item in raw:
        record = decode_record(item)
        if record.exposure:
            variation.setdefault(record.user, record.variation)
        else:
            totals[(record.user, record.event_id or 0)] += record.value or 0.0
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--new-events", type=int, default=1_000_000)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        server = localredis.start(Path(tmp) / "redis", persistent=False)
        try:
            store = Store.from_url(server.url, prefix="ab", timeout=60)
            exp = store.create_experiment(
                Experiment(
                    key=KEY,
                    variations=("control", "treatment"),
                    status="running",
                    metrics=(
                        Metric("purchase", type="value", window=7 * DAY),
                        Metric("signup", role="secondary"),
                        Metric("view", role="secondary"),
                    ),
                )
            )
            now = int(time.time()) - 20 * DAY
            for i, name in enumerate(("purchase", "signup", "view")):
                store.enroll(exp, f"seed-{i}", 0, now)
                store.track([exp], [pack_event(Event(f"seed-{i}", name, now))])
            users = rng.integers(1, 2**63, args.users, dtype=np.uint64)
            variation = rng.integers(0, 2, args.users).astype(np.uint8)
            started = time.perf_counter()
            store.append_log(KEY, records(users, variation, None, None, now))
            load(store, rng, users, variation, args.events - args.users, now)
            print(
                f"loaded {store.log_length(KEY):,} records in "
                f"{time.perf_counter() - started:.1f} s"
            )
            env = {
                **os.environ,
                "REDIS_URL": server.url,
                "ABFLASK_KEY_PREFIX": "ab",
                "ABFLASK_DATA_DIR": str(Path(tmp) / "data"),
            }
            full_s, full_mb = analyse(env, "--full")
            load(store, rng, users, variation, args.new_events, now + DAY)
            inc_s, inc_mb = analyse(env)
            naive_s = None if args.skip_naive else naive(store)
        finally:
            server.stop()
    total = args.events + args.new_events
    print(
        f"--full over {args.events:,} records: {full_s:6.1f} s "
        f"(target {FULL_TARGET_S:.0f} s, ratio {full_s / FULL_TARGET_S:.2f}), "
        f"peak {full_mb:,.0f} MiB (target {MEMORY_TARGET_MB:.0f})"
    )
    print(
        f"incremental, {args.new_events:,} new: {inc_s:6.1f} s "
        f"(target {INCREMENTAL_TARGET_S:.0f} s, "
        f"ratio {inc_s / INCREMENTAL_TARGET_S:.2f}), "
        f"peak {inc_mb:,.0f} MiB"
    )
    if naive_s is not None:
        print(
            f"naive read-everything baseline over {total:,} records: {naive_s:6.1f} s; "
            f"the job's --full is {naive_s * args.events / total / full_s:.1f}x faster "
            f"per record"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
