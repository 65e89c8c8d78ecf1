"""SDK speed: variation() against the GrowthBook Python SDK, and track() enqueue.

Both SDKs evaluate the same experiments for the same distinct random users,
in one thread, in alternating rounds; the ratio is taken per round and the
median reported. abflask's client gets its configuration from an in-process
stub transport (no network). Needs the ``growthbook`` package, installed for
this benchmark only: ``pip install growthbook==4.0.0``. Not run by pytest.

    python scripts/bench_sdk.py [--calls 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Mapping

from abflask.core import wire
from abflask.core.experiment import Experiment
from abflask.sdk.client import Client

TARGET_RATIO = 5.0
"""variation() calls/s relative to GrowthBook's run()."""
TARGET_TRACK = 500_000
"""track() enqueue calls/s."""

EXPERIMENTS = [
    ("checkout-button-color", ["control", "green"], [0.5, 0.5], 1.0),
    ("pricing-page-layout", ["A", "B", "C"], [0.2, 0.4, 0.4], 0.8),
]


def snapshot() -> bytes:
    """The /sdk/config body for EXPERIMENTS, in the service's wire format."""
    experiments = {
        key: Experiment(
            key=key,
            variations=tuple(names),
            weights=tuple(weights),
            coverage=coverage,
            status="running",
        )
        for key, names, weights, coverage in EXPERIMENTS
    }
    return json.dumps(wire.encode(experiments, {})).encode()


class Stub:
    """Serves the snapshot and accepts everything else: no network involved."""

    def __init__(self) -> None:
        self.body = snapshot()

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        if url.endswith("/sdk/config"):
            return 200, {"ETag": '"1"'}, self.body
        if url.endswith("/sdk/exposures"):
            return 200, {}, b'{"assignments": []}'
        return 202, {}, b"{}"


def rate(fn: object, users: list[str]) -> float:
    started = time.perf_counter()
    fn(users)  # type: ignore[operator]
    return len(users) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        from growthbook import Experiment, GrowthBook
    except ImportError:
        print("needs the growthbook package: pip install growthbook==4.0.0")
        return 2

    client = Client(
        "http://stub",
        "bench-key-0123456789",
        transport=Stub(),
        max_queue=10 * args.calls,
        flush_interval=3600,
        batch_size=10**9,
    )
    gb = GrowthBook()
    gb_exps = [
        Experiment(key=k, variations=v, weights=w, coverage=c, hashVersion=2)
        for k, v, w, c in EXPERIMENTS
    ]

    def ours(users: list[str]) -> None:
        for i, user in enumerate(users):
            client.variation(EXPERIMENTS[i & 1][0], user)

    def theirs(users: list[str]) -> None:
        for i, user in enumerate(users):
            gb.set_attributes({"id": user})
            gb.run(gb_exps[i & 1])

    sample = [str(uuid.uuid4()) for _ in range(2000)]
    for i, user in enumerate(sample):  # same answers, or the race is meaningless
        gb.set_attributes({"id": user})
        expected = gb.run(gb_exps[i & 1])
        got = client.variation(EXPERIMENTS[i & 1][0], user)
        want = expected.value if expected.inExperiment else EXPERIMENTS[i & 1][1][0]
        assert got == want, (user, got, want)

    ratios, our_rates, their_rates = [], [], []
    for _ in range(args.rounds):
        users = [str(uuid.uuid4()) for _ in range(args.calls)]
        mine = rate(ours, users)
        users = [str(uuid.uuid4()) for _ in range(args.calls)]
        other = rate(theirs, users)
        our_rates.append(mine)
        their_rates.append(other)
        ratios.append(mine / other)

    events = max(args.calls, 500_000)
    started = time.perf_counter()
    for _ in range(events):
        client.track("purchase", "user-1", 9.99)
    track_rate = events / (time.perf_counter() - started)
    client.close(timeout=0.1)

    ratio = statistics.median(ratios)
    print(
        f"variation(): abflask {statistics.median(our_rates):,.0f} calls/s, "
        f"GrowthBook run() {statistics.median(their_rates):,.0f} calls/s, "
        f"ratio {ratio:.2f}x (target {TARGET_RATIO:.0f}x) "
        f"[rounds: {', '.join(f'{r:.2f}' for r in ratios)}]"
    )
    print(
        f"track() enqueue: {track_rate:,.0f} calls/s (target {TARGET_TRACK:,}, "
        f"ratio {track_rate / TARGET_TRACK:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
