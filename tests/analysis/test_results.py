"""One phase's results from hand-made logs: phases, exclusions, caps, time series.

Logs are built record by record with ``encode_record`` and folded as the job
folds them, so every expected number is computed here from the same users
with numpy.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from abflask.analysis import aggregate, results
from abflask.analysis.aggregate import Aggregates
from abflask.core.experiment import Experiment, Phase
from abflask.core.metric import Metric
from abflask.core.records import encode_record
from abflask.core.stats.inference import Summary
from abflask.core.stats.result import MetricInput, experiment_result, select_phase

T0 = 1_790_000_000
BUY, REVENUE = 1, 2
NAMES = {BUY: "buy", REVENUE: "revenue"}


def user(n: int) -> bytes:
    return n.to_bytes(8, "little")


class Log:
    """Records in log order; ``fold`` folds them as the job does."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    def expose(self, n: int, variation: int, at: int) -> None:
        self.raw.append(encode_record(variation, at, user(n)))

    def track(self, n: int, at: int, event_id: int, value: float | None = None) -> None:
        self.raw.append(encode_record(0, at, user(n), event_id=event_id, value=value))

    def fold(self) -> Aggregates:
        agg = Aggregates()
        agg.fold(aggregate.decode(self.raw))
        return agg


def experiment(*metrics: Metric, phases: tuple[Phase, ...] = ()) -> Experiment:
    exp = Experiment(
        key="exp",
        variations=("control", "treatment"),
        metrics=metrics,
        status="running",
    )
    return replace(exp, phases=phases)


def test_phase_of_agrees_with_the_definition() -> None:
    exp = experiment(
        phases=(
            Phase(T0 + 0.5, (0.5, 0.5)),
            Phase(T0 + 100.25, (0.2, 0.8)),
            Phase(T0 + 200.0, (0.5, 0.5)),
        )
    )
    times = np.arange(T0 - 5, T0 + 210, dtype=np.int64)
    want = [exp.phase_at(int(t)) for t in times]
    got = results.phase_of(exp, times)
    assert [None if x < 0 else int(x) for x in got] == want


def test_the_current_phase_is_analysed_against_its_own_weights() -> None:
    exp = experiment(
        Metric("buy"),
        phases=(Phase(T0, (0.9, 0.1)), Phase(T0 + 1000.5, (0.5, 0.5))),
    )
    log = Log()
    rng = np.random.default_rng(3)
    for n in range(2000):  # phase 0: 90/10
        log.expose(n, int(rng.random() < 0.1), T0 + n % 900)
    for n in range(2000, 2010):  # the boundary second: either split
        log.expose(n, n % 2, T0 + 1000)
    for n in range(2010, 4010):  # phase 1: 50/50
        log.expose(n, n % 2, T0 + 1001 + n % 900)
    agg = log.fold()
    current = results.compute(exp, agg, NAMES, T0 + 5000.0)
    assert current["phase"] == {
        "index": 1,
        "count": 2,
        "started_at": T0 + 1000.5,
        "ended_at": None,
        "weights": [0.5, 0.5],
    }
    assert current["participants"] == {"control": 1000, "treatment": 1000}
    assert current["excluded"]["phase_boundary"] == 10
    assert current["srm_warning"] is False
    first = results.compute(exp, agg, NAMES, T0 + 5000.0, phase=0)
    assert first["phase"]["ended_at"] == T0 + 1000.5
    assert sum(first["participants"].values()) == 2000
    assert first["srm_warning"] is False
    # Pooling both phases against the current weights would be a mismatch.
    pooled = results.compute(replace(exp, phases=()), agg, NAMES, T0 + 5000.0)
    assert pooled["srm_warning"] is True
    with pytest.raises(ValueError, match="phase 2 does not exist"):
        results.compute(exp, agg, NAMES, T0, phase=2)


def test_users_exposed_to_two_variations_are_left_out_and_counted() -> None:
    log = Log()
    for n in range(400):
        log.expose(n, n % 2, T0)
    log.expose(0, 1, T0 + 5)  # user 0 was in control
    log.expose(2, 1, T0 + 5)
    log.track(0, T0 + 10, BUY)
    found = results.compute(experiment(Metric("buy")), log.fold(), NAMES, T0 + 99.0)
    assert found["excluded"]["multiple_variations"] == 2
    assert found["participants"] == {"control": 198, "treatment": 200}
    assert found["metrics"][0]["variations"][0]["converters"] == 0


def value_log(values: dict[int, float], users: int) -> Log:
    log = Log()
    for n in range(users):
        log.expose(n, n % 2, T0)
    for n, v in values.items():
        log.track(n, T0 + 60, REVENUE, v)
    return log


def test_a_fixed_cap_winsorises_each_users_total() -> None:
    rng = np.random.default_rng(5)
    values = {n: float(rng.lognormal(2, 1.5)) for n in range(0, 1000, 3)}
    metric = Metric("revenue", type="value", cap=50.0)
    found = results.compute(
        experiment(metric), value_log(values, 1000).fold(), NAMES, 0.0
    )
    dense = np.zeros(1000)
    for n, v in values.items():
        dense[n] = v
    capped = np.minimum(dense, 50.0)
    [m] = found["metrics"]
    assert m["cap_value"] == 50.0
    for i, row in enumerate(m["variations"]):
        assert row["mean"] == pytest.approx(capped[i::2].mean(), rel=1e-12)


def test_a_percentile_cap_uses_the_pooled_totals_with_zeros() -> None:
    rng = np.random.default_rng(6)
    values = {n: float(rng.lognormal(2, 1.5)) for n in range(0, 1000, 2)}
    metric = Metric("revenue", type="value", cap_percentile=0.9)
    found = results.compute(
        experiment(metric), value_log(values, 1000).fold(), NAMES, 0.0
    )
    dense = np.zeros(1000)
    for n, v in values.items():
        dense[n] = v
    cap = float(np.quantile(dense, 0.9))
    [m] = found["metrics"]
    assert m["cap_value"] == pytest.approx(cap, rel=1e-12)
    control = np.minimum(dense[0::2], cap)
    assert m["variations"][0]["mean"] == pytest.approx(control.mean(), rel=1e-12)


@pytest.mark.parametrize("kind", ["conversion", "value"])
def test_the_last_point_of_the_time_series_is_the_table(kind: str) -> None:
    rng = np.random.default_rng(7)
    log = Log()
    for n in range(3000):
        log.expose(n, n % 2, T0 + int(rng.integers(0, 5 * 86400)))
    for n in range(3000):
        if rng.random() < 0.2 + 0.05 * (n % 2):
            log.track(n, T0 + 6 * 86400, REVENUE, float(rng.gamma(2, 10)))
    metric = Metric("revenue", type=kind)
    found = results.compute(experiment(metric), log.fold(), NAMES, 0.0)
    [m] = found["metrics"]
    last = found["timeseries"]["points"][-1]
    assert found["timeseries"]["type"] == kind
    assert last["participants"] == [v["participants"] for v in m["variations"]]
    assert last["converters"] == [v["converters"] for v in m["variations"]]
    table = m["variations"][1][kind]
    assert last["lift"][0]["rel_lift"] == pytest.approx(table["rel_lift"], rel=1e-9)
    assert last["lift"][0]["abs_ci_sequential"] == pytest.approx(
        table["abs_ci_sequential"], rel=1e-9
    )


def test_a_wipe_out_is_reported_as_worse() -> None:
    log = Log()
    for n in range(4000):
        log.expose(n, n % 2, T0)
    for n in range(0, 62, 2):  # 31 control users buy; nobody in treatment
        log.track(n, T0 + 5, BUY)
    found = results.compute(experiment(Metric("buy")), log.fold(), NAMES, 0.0)
    [m] = found["metrics"]
    assert m["variations"][1]["outcome"] == "worse"
    assert m["variations"][1]["conversion"]["state"] == "adjusted"
    assert found["decision"]["state"] == "dont_ship"


def test_negative_values_keep_the_lift_sign_right() -> None:
    """Net revenue after refunds: control loses 2 per user, treatment 1."""
    rng = np.random.default_rng(8)
    values = {
        n: (-2.0 if n % 2 == 0 else -1.0) + float(rng.normal(0, 0.5))
        for n in range(600)
    }
    metric = Metric("revenue", type="value")
    found = results.compute(
        experiment(metric), value_log(values, 600).fold(), NAMES, 0.0
    )
    cmp = found["metrics"][0]["variations"][1]["value"]
    assert cmp["rel_lift"] is not None and cmp["rel_lift"] > 0
    assert found["metrics"][0]["variations"][1]["outcome"] == "better"


def test_without_metrics_every_event_seen_is_a_primary_metric() -> None:
    log = value_log({1: 5.0, 2: 3.0}, 400)
    log.track(3, T0 + 61, BUY)
    found = results.compute(experiment(), log.fold(), NAMES, 0.0)
    assert [(m["event"], m["role"]) for m in found["metrics"]] == [
        ("buy", "primary"),
        ("revenue", "primary"),
    ]


def test_events_before_exposure_are_excluded_and_counted() -> None:
    log = Log()
    for n in range(400):
        log.expose(n, n % 2, T0)
        log.track(n, T0 - 3 * 86400, BUY)
    found = results.compute(experiment(Metric("buy")), log.fold(), NAMES, 0.0)
    assert found["excluded"]["unattributed_events"] == 400
    assert all(v["converters"] == 0 for v in found["metrics"][0]["variations"])
    assert not math.isnan(found["srm_p_value"] or 0.0)


def test_summaries_from_sums_give_the_jobs_result() -> None:
    """What the service computes live: per variation the participants,
    converters, and the sum and sum of squares of the capped totals."""
    rng = np.random.default_rng(11)
    log = Log()
    users, cap = 4000, 60.0
    totals = np.zeros((users, 3))  # bought, revenue, had revenue
    for n in range(users):
        log.expose(n, n % 2, T0 + n % 500)
    for n in range(users):
        if rng.random() < 0.1 + 0.02 * (n % 2):
            log.track(n, T0 + 600, BUY)
            totals[n, 0] = 1.0
        for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.3 else 0):
            value = float(rng.gamma(2.0, 12.0))
            log.track(n, T0 + 700, REVENUE, value)
            totals[n, 1] += value
            totals[n, 2] = 1.0
    metrics = (Metric("buy"), Metric("revenue", type="value", cap=cap))
    exp = experiment(*metrics)
    job = results.compute(exp, log.fold(), NAMES, T0 + 9000.0)
    arm = np.arange(users) % 2
    given = []
    for metric, x, converted in (
        (metrics[0], np.zeros(users), totals[:, 0]),  # buy has no value
        (metrics[1], np.minimum(totals[:, 1], cap), totals[:, 2]),
    ):
        n = [int((arm == v).sum()) for v in (0, 1)]
        conv = [int(converted[arm == v].sum()) for v in (0, 1)]
        value = [
            Summary.of_sums(
                n[v], float(x[arm == v].sum()), float((x[arm == v] ** 2).sum())
            )
            for v in (0, 1)
        ]
        conversion = [Summary.of_counts(conv[v], n[v]) for v in (0, 1)]
        cap_value = cap if metric.type == "value" else None
        given.append(MetricInput(metric, conversion, value, conv, True, cap_value))
    live = experiment_result(
        exp,
        select_phase(exp, None),
        [2000, 2000],
        given,
        excluded=job["excluded"],
        records_analysed=None,
        series=job["timeseries"],
        now=T0 + 9000.0,
        source="live",
    )
    assert live["decision"] == job["decision"]
    for got, want in zip(live["metrics"], job["metrics"], strict=True):
        assert (got["source"], want["source"]) == ("live", "job")
        assert got["verdict"] == want["verdict"]
        assert got["users_needed"] == want["users_needed"]
        assert_close(got["variations"], want["variations"], 1e-9)


def assert_close(got: object, want: object, rel: float) -> None:
    """Equal structures, floats to ``rel`` (absolute 1e-12 near 0)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys()
        for key in want:
            assert_close(got[key], want[key], rel)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert_close(a, b, rel)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=rel, abs=1e-12)
    else:
        assert got == want
