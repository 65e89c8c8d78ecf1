"""SDK speed: decisions against the GrowthBook Python SDK, and track() enqueue.

Three workloads, each on the same definitions in both SDKs, for the same
distinct random users, in one thread, in alternating rounds:

* ``plain``: ``variation()`` on two untargeted experiments, users given by id,
  against GrowthBook's ``run()``;
* ``targeted``: ``variation()`` on an experiment with a three-clause
  condition (country ``$in``, plan ``$eq``, app version ``$vgte``), users with
  attributes, against ``run()`` of the same experiment and condition;
* ``flag``: ``get_feature_value()`` on a flag with a force rule under a
  condition and a rollout rule, against ``eval_feature()`` of the equivalent
  feature.

Time is the process's CPU time, the two SDKs taking turns every ``CHUNK``
calls, so that other load on the machine weighs on both alike. Each
workload's ratio is taken per round and the median reported; the overall
ratio is the time GrowthBook took for every call of a round over ours (the
three workloads mixed in equal parts). Both SDKs are checked to answer alike
before timing. abflask's client gets its configuration from an in-process
stub transport (no network). Needs the ``growthbook`` package, installed for
this benchmark only: ``pip install growthbook==4.0.0``. Not run by pytest.

    python scripts/bench_sdk.py [--calls 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from abflask.core import wire
from abflask.core.experiment import Experiment
from abflask.core.flag import parse_flag
from abflask.sdk.client import Client, User

TARGET_RATIO = 5.0
"""Decisions/s relative to GrowthBook, per workload and overall."""
TARGET_TRACK = 500_000
"""track() enqueue calls/s."""
CHUNK = 5_000
"""Calls each SDK makes in turn before the other's turn."""

EXPERIMENTS = [
    ("checkout-button-color", ["control", "green"], [0.5, 0.5], 1.0),
    ("pricing-page-layout", ["A", "B", "C"], [0.2, 0.4, 0.4], 0.8),
]
TARGETED = ("onboarding-flow", ["control", "short", "guided"], [0.4, 0.3, 0.3], 0.9)
CONDITION = {
    "country": {"$in": ["US", "CA", "GB", "DE", "FR"]},
    "plan": {"$eq": "pro"},
    "app_version": {"$vgte": "2.3.0"},
}
"""The targeted experiment's condition: three clauses."""
FLAG = {
    "key": "checkout-theme",
    "enabled": True,
    "value": "blue",
    "default": "grey",
    "rollout": 0.0,
    "rules": [
        {"condition": {"plan": {"$in": ["team", "enterprise"]}}, "force": "gold"},
        {"rollout": 0.3, "value": "green"},
    ],
}
"""The flag: a force rule with a condition, then a rollout rule."""
GB_FEATURE = {
    "defaultValue": "grey",
    "rules": [
        {"condition": {"plan": {"$in": ["team", "enterprise"]}}, "force": "gold"},
        {"force": "green", "coverage": 0.3, "hashVersion": 2, "seed": FLAG["key"]},
    ],
}
"""The same flag as a GrowthBook feature (our rules hash with version 2)."""


def snapshot() -> bytes:
    """The /sdk/config body for these definitions, in the service's wire format."""
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
    key, names, weights, coverage = TARGETED
    experiments[key] = Experiment(
        key=key,
        variations=tuple(names),
        weights=tuple(weights),
        coverage=coverage,
        status="running",
        condition=CONDITION,
    )
    flags = {FLAG["key"]: parse_flag(FLAG, now=time.time())}
    return json.dumps(wire.encode(experiments, flags, {})).encode()


class Stub:
    """Serves the snapshot and settles every exposure (``excluded``: nothing
    cached) and batch of events: no network involved."""

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
            entries = json.loads(body or b"{}")["exposures"]
            answers = [{**e, "variation": None, "reason": "excluded"} for e in entries]
            return 200, {}, json.dumps({"assignments": answers}).encode()
        return 202, {}, b"{}"


def people(n: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """``n`` distinct users with attributes; about a fifth match CONDITION."""
    return [
        (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            {
                "country": rng.choice(["US", "CA", "GB", "DE", "FR", "JP", "BR"]),
                "plan": rng.choice(["free", "pro", "pro", "team"]),
                "app_version": rng.choice(["2.2.9", "2.3.0", "2.10.1", "3.0.0"]),
            },
        )
        for _ in range(n)
    ]


Workload = Callable[[list[Any]], None]


def workloads(
    client: Client, gb: Any, gb_exps: list[Any], gb_targeted: Any
) -> dict[
    str, tuple[Workload, Workload, Callable[[list[tuple[str, dict[str, Any]]]], Any]]
]:
    """Per workload: abflask's loop, GrowthBook's loop, and the inputs of both
    built from the same users (ours ``User``s, theirs attribute dicts)."""
    plain_keys = [k for k, *_ in EXPERIMENTS]
    targeted_key, flag_key = TARGETED[0], FLAG["key"]

    def ours_plain(users: list[str]) -> None:
        for i, user in enumerate(users):
            client.variation(plain_keys[i & 1], user)

    def theirs_plain(users: list[str]) -> None:
        for i, user in enumerate(users):
            gb.set_attributes({"id": user})
            gb.run(gb_exps[i & 1])

    def ours_targeted(users: list[User]) -> None:
        for user in users:
            client.variation(targeted_key, user)

    def theirs_targeted(users: list[dict[str, Any]]) -> None:
        for attributes in users:
            gb.set_attributes(attributes)
            gb.run(gb_targeted)

    def ours_flag(users: list[User]) -> None:
        for user in users:
            client.get_feature_value(flag_key, user, "grey")

    def theirs_flag(users: list[dict[str, Any]]) -> None:
        for attributes in users:
            gb.set_attributes(attributes)
            gb.eval_feature(flag_key)

    def ids(users: list[tuple[str, dict[str, Any]]]) -> Any:
        return [u for u, _ in users], [u for u, _ in users]

    def with_attributes(users: list[tuple[str, dict[str, Any]]]) -> Any:
        return [User(u, a) for u, a in users], [{**a, "id": u} for u, a in users]

    return {
        "plain": (ours_plain, theirs_plain, ids),
        "targeted": (ours_targeted, theirs_targeted, with_attributes),
        "flag": (ours_flag, theirs_flag, with_attributes),
    }


def check_same_answers(
    client: Client, gb: Any, gb_exps: list[Any], gb_targeted: Any
) -> None:
    """Both SDKs answer alike, or the race is meaningless."""
    matched = 0
    for i, (user, attributes) in enumerate(people(3000, random.Random(1))):
        gb.set_attributes({"id": user})
        expected = gb.run(gb_exps[i & 1])
        got = client.variation(EXPERIMENTS[i & 1][0], user)
        want = expected.value if expected.inExperiment else EXPERIMENTS[i & 1][1][0]
        assert got == want, (user, got, want)
        gb.set_attributes({**attributes, "id": user})
        expected = gb.run(gb_targeted)
        got = client.variation(TARGETED[0], User(user, attributes))
        want = expected.value if expected.inExperiment else TARGETED[1][0]
        assert got == want, (user, attributes, got, want)
        matched += expected.inExperiment
        ours = client.get_feature_value(FLAG["key"], User(user, attributes), None)
        theirs = gb.eval_feature(FLAG["key"]).value
        assert ours == theirs, (user, attributes, ours, theirs)
    assert 300 < matched < 2000, matched  # both branches of the condition run


def rounds(ratios: list[float]) -> str:
    return ", ".join(f"{r:.2f}" for r in ratios)


def race(
    client: Client,
    ours: Workload,
    theirs: Workload,
    mine: list[Any],
    other: list[Any],
) -> Any:
    """Seconds of CPU each loop takes over its users, run in alternating
    chunks, so that a burst of load elsewhere on the machine falls on both.

    Between chunks, untimed, the client's thread sends what was queued (as
    it would every ``flush_interval``): a queue left to grow over millions
    of calls would only slow the garbage collector, for both SDKs.
    """
    ours_time = theirs_time = 0.0
    for start in range(0, len(mine), CHUNK):
        client.flush(timeout=60)
        began = time.process_time()
        ours(mine[start : start + CHUNK])
        middle = time.process_time()
        theirs(other[start : start + CHUNK])
        theirs_time += time.process_time() - middle
        ours_time += middle - began
    return ours_time, theirs_time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        from growthbook import Experiment as GBExperiment
        from growthbook import GrowthBook
    except ImportError:
        print("needs the growthbook package: pip install growthbook==4.0.0")
        return 2

    client = Client(
        "http://stub",
        "bench-key-0123456789",
        transport=Stub(),
        max_queue=max(args.calls, 500_000),
        flush_interval=3600,
        batch_size=10**9,
    )
    gb = GrowthBook(features={FLAG["key"]: GB_FEATURE})
    gb_exps = [
        GBExperiment(key=k, variations=v, weights=w, coverage=c, hashVersion=2)
        for k, v, w, c in EXPERIMENTS
    ]
    key, names, weights, coverage = TARGETED
    gb_targeted = GBExperiment(
        key=key,
        variations=names,
        weights=weights,
        coverage=coverage,
        hashVersion=2,
        condition=CONDITION,
    )
    check_same_answers(client, gb, gb_exps, gb_targeted)

    loads = workloads(client, gb, gb_exps, gb_targeted)
    rng = random.Random(7)
    ratios: dict[str, list[float]] = {name: [] for name in loads}
    ours_s: dict[str, list[float]] = {name: [] for name in loads}
    theirs_s: dict[str, list[float]] = {name: [] for name in loads}
    overall: list[float] = []
    for _ in range(args.rounds):
        ours_total = theirs_total = 0.0
        for name, (ours, theirs, inputs) in loads.items():
            mine, _ = inputs(people(args.calls, rng))  # fresh users for each SDK
            _, other = inputs(people(args.calls, rng))
            ours_time, theirs_time = race(client, ours, theirs, mine, other)
            ours_s[name].append(args.calls / ours_time)
            theirs_s[name].append(args.calls / theirs_time)
            ratios[name].append(theirs_time / ours_time)
            ours_total += ours_time
            theirs_total += theirs_time
        overall.append(theirs_total / ours_total)

    client.flush(timeout=60)
    events = max(args.calls, 500_000)
    started = time.perf_counter()
    for _ in range(events):
        client.track("purchase", "user-1", 9.99)
    track_rate = events / (time.perf_counter() - started)
    client.close(timeout=0.1)

    met = True
    for name in loads:
        ratio = statistics.median(ratios[name])
        met &= ratio >= TARGET_RATIO
        print(
            f"{name:>8}: abflask {statistics.median(ours_s[name]):,.0f} calls/s, "
            f"GrowthBook {statistics.median(theirs_s[name]):,.0f} calls/s, "
            f"ratio {ratio:.2f}x [rounds: {rounds(ratios[name])}]"
        )
    ratio = statistics.median(overall)
    met &= ratio >= TARGET_RATIO
    print(
        f" overall: ratio {ratio:.2f}x (target {TARGET_RATIO:.0f}x per workload "
        f"and overall: {'met' if met else 'NOT met'}) "
        f"[rounds: {rounds(overall)}]"
    )
    print(
        f"track() enqueue: {track_rate:,.0f} calls/s (target {TARGET_TRACK:,}, "
        f"ratio {track_rate / TARGET_TRACK:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
