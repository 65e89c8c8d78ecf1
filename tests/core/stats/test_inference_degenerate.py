"""Degenerate inputs of inference.compare: explicit states, right answers.

An arm without users, an arm of one, a conversion rate of 0 or 1, constant
values: each has a ``state`` and an answer, and none is "p = 1" just because
a variance is 0. The reproducers of wrong verdicts (a treatment that wipes
out conversions, a rare-event false alarm, skewed revenue) are pinned here,
and so is the range of relative intervals for non-negative metrics.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from abflask.analysis.moments import of_values
from abflask.core.stats import inference as stats
from abflask.core.stats.inference import Comparison, Summary

NONE2 = [None, None]


def conversions(control: tuple[int, int], treatment: tuple[int, int]) -> Comparison:
    """Compare converters/users of control and treatment."""
    return stats.proportion_test(
        Summary.of_counts(*control), Summary.of_counts(*treatment)
    )


# --- states ---------------------------------------------------------------------

STATES: dict[str, tuple[Comparison, dict[str, Any]]] = {
    "empty-control": (
        conversions((0, 0), (5, 50)),
        {"state": "empty", "abs_lift": None, "rel_lift": None, "p_value": None}
        | {"p_value_sequential": None, "abs_ci": NONE2, "rel_ci_sequential": NONE2},
    ),
    "empty-treatment": (
        stats.welch_test(Summary(50, 1.5, 1.0), of_values([])),
        {"state": "empty", "abs_lift": None, "p_value": None, "abs_ci": NONE2},
    ),
    "one-user-arm": (
        stats.welch_test(of_values([1.0]), Summary(50, 1.5, 1.0)),
        {"state": "too_few", "abs_lift": 0.5, "rel_lift": 0.5, "p_value": None}
        | {"p_value_sequential": None, "abs_ci": NONE2, "rel_ci": NONE2},
    ),
    "constant-different": (
        stats.welch_test(Summary(40, 2.0, 0.0), Summary(40, 3.0, 0.0)),
        {"state": "constant", "abs_lift": 1.0, "rel_lift": 0.5, "p_value": 0.0}
        | {"p_value_sequential": 0.0, "abs_ci": [1.0, 1.0], "rel_ci": [0.5, 0.5]}
        | {"abs_ci_sequential": [1.0, 1.0], "rel_ci_sequential": [0.5, 0.5]},
    ),
    "constant-equal": (
        stats.welch_test(Summary(40, 2.0, 0.0), Summary(30, 2.0, 0.0)),
        {"state": "constant", "abs_lift": 0.0, "p_value": 1.0}
        | {"p_value_sequential": 1.0, "abs_ci": [0.0, 0.0], "rel_ci": [0.0, 0.0]},
    ),
    "no-conversions": (
        conversions((0, 100), (0, 100)),
        {"state": "adjusted", "abs_lift": 0.0, "rel_lift": None, "p_value": 1.0}
        | {"p_value_sequential": 1.0, "rel_ci": NONE2},
    ),
    "all-converted": (
        conversions((100, 100), (80, 80)),
        {"state": "adjusted", "abs_lift": 0.0, "rel_lift": 0.0, "p_value": 1.0}
        | {"p_value_sequential": 1.0},
    ),
}


@pytest.mark.parametrize(("result", "expected"), STATES.values(), ids=STATES.keys())
def test_degenerate_inputs_have_a_state_and_an_answer(
    result: Comparison, expected: dict[str, Any]
) -> None:
    out = result.to_dict()
    assert {k: out.get(k, "missing") for k in expected} == expected


def test_both_arms_without_conversions_get_an_interval_around_zero() -> None:
    r = conversions((0, 100), (0, 100))
    assert r.abs_ci[0] < 0.0 < r.abs_ci[1]
    assert r.abs_ci_sequential[0] < r.abs_ci[0]


def test_zero_control_rate_keeps_absolute_results() -> None:
    r = conversions((0, 500), (10, 500))
    assert r.state == "adjusted" and r.abs_lift == pytest.approx(0.02)
    assert r.p_value < 0.05 and r.abs_ci[0] > 0.0
    assert not math.isnan(r.p_value_sequential)
    assert math.isnan(r.rel_lift) and math.isnan(r.rel_ci_sequential[0])


def test_one_constant_value_arm_is_an_ordinary_welch_test() -> None:
    # A treatment that zeroes revenue: its variance is 0, the control's is not.
    r = stats.welch_test(Summary(400, 5.0, 100.0), Summary(400, 0.0, 0.0))
    assert r.state == "ok" and r.p_value < 1e-6 and r.p_value_sequential < 0.05
    assert r.rel_lift == -1.0 and r.rel_ci[0] == -1.0 and r.rel_ci[1] < 0.0


def test_conversion_variance_comes_from_the_rate() -> None:
    # A hand-built conversion summary without its p(1 - p) gets it anyway.
    by_hand = stats.compare(
        Summary(100, 0.5, 0.0), Summary(100, 0.6, 0.0), "conversion"
    )
    assert by_hand == conversions((50, 100), (60, 100))


def test_to_dict_of_an_empty_comparison_is_strict_json() -> None:
    out = conversions((0, 0), (0, 0)).to_dict()
    assert out["state"] == "empty"
    json.dumps(out, allow_nan=False)


# --- reproducers ---------------------------------------------------------------------


def test_wipe_out_of_rare_conversions_is_detected() -> None:
    # Control 31/2000 vs treatment 0/2000: fixed p = 3e-8, and the always-valid
    # test agrees; the delta method once gave p = 1 here.
    r = conversions((31, 2000), (0, 2000))
    assert r.state == "adjusted"
    assert r.p_value < 1e-6
    assert r.p_value_sequential < 0.05
    assert r.abs_ci_sequential[1] < 0.0
    assert r.rel_ci_sequential[0] == -1.0 and r.rel_ci_sequential[1] < 0.0


def test_total_wipe_out_is_detected() -> None:
    r = conversions((1000, 1000), (0, 1000))
    assert r.state == "adjusted" and r.abs_lift == -1.0
    assert r.p_value < 1e-6
    assert r.p_value_sequential < 1e-6
    assert r.abs_ci_sequential[1] < 0.0


@pytest.mark.parametrize("tuning", [10_000.0, 5_000.0], ids=["N*=10000", "N*=5000"])
def test_rare_event_noise_is_not_significant(tuning: float) -> None:
    # 10/4000 vs 2/4000: Fisher's exact p = 0.038; the Wald p is 0.02, but the
    # always-valid test must not call it (the relative test once said -80%).
    r = stats.proportion_test(
        Summary.of_counts(10, 4000), Summary.of_counts(2, 4000), tuning=tuning
    )
    assert r.state == "ok"
    assert r.p_value_sequential >= 0.05
    assert r.abs_ci_sequential[0] < 0.0 < r.abs_ci_sequential[1]


def revenue(rng: np.random.Generator, users: int) -> npt.NDArray[np.float64]:
    """Per-user revenue: 90% zeros, lognormal spend (median 20, long tail)."""
    spend = rng.lognormal(3.0, 2.0, users)
    return np.where(rng.random(users) < 0.1, spend, 0.0)


def test_aa_skewed_revenue_is_not_significant() -> None:
    seeds = 1_000
    significant = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        control, treatment = revenue(rng, 500), revenue(rng, 500)
        r = stats.welch_test(of_values(control), of_values(treatment))
        significant += r.p_value_sequential < 0.05
    assert significant / seeds <= 0.05


# --- ranges ---------------------------------------------------------------------------


def random_arms(rng: np.random.Generator) -> tuple[Summary, Summary, str]:
    """A random non-negative comparison: rare, wiped-out or skewed arms."""
    n_c, n_t = (int(x) for x in rng.integers(2, 5_000, 2))
    if rng.random() < 0.5:
        rates = rng.choice([0.0, 1e-3, 0.01, 0.1, 0.5, 1.0], 2)
        if rng.random() < 0.2:  # a wipe-out
            rates[1] = 0.0
        return (
            Summary.of_counts(int(rng.binomial(n_c, rates[0])), n_c),
            Summary.of_counts(int(rng.binomial(n_t, rates[1])), n_t),
            "conversion",
        )
    zeros = rng.uniform(0.5, 1.0, 2)
    zeros[1] = 1.0 if rng.random() < 0.2 else zeros[1]  # a wipe-out
    arms = [
        np.where(rng.random(n) < 1 - z, rng.lognormal(2.0, 1.5, n), 0.0)
        for n, z in ((n_c, zeros[0]), (n_t, zeros[1]))
    ]
    return of_values(arms[0]), of_values(arms[1]), "value"


def test_relative_intervals_of_non_negative_metrics_stay_above_minus_100() -> None:
    rng = np.random.default_rng(2024)
    bounded = 0
    for _ in range(3_000):
        control, treatment, kind = random_arms(rng)
        r = stats.compare(control, treatment, kind)
        assert math.isnan(r.rel_lift) or r.rel_lift >= -1.0
        for low, high in (r.rel_ci, r.rel_ci_sequential):
            if math.isnan(low):
                continue
            bounded += 1
            assert -1.0 <= low <= r.rel_lift <= high, (control, treatment, r)
    assert bounded > 2_000  # the check ran on most data sets


def test_zero_variance_never_hides_a_difference() -> None:
    rng = np.random.default_rng(2025)
    for _ in range(3_000):
        control, treatment, kind = random_arms(rng)
        r = stats.compare(control, treatment, kind)
        if r.abs_lift != 0.0:
            assert r.p_value < 1.0, (control, treatment, r)


def test_unclipped_fieller_may_pass_minus_100_when_values_can_be_negative() -> None:
    r = conversions((31, 2000), (0, 2000))
    raw = stats.proportion_test(
        Summary.of_counts(31, 2000), Summary.of_counts(0, 2000), nonnegative=False
    )
    assert raw.rel_ci[0] < -1.0 and raw.rel_ci[1] == r.rel_ci[1]
    # A negative mean is evidence the values are not non-negative: no clip.
    net = stats.welch_test(Summary(50, 1.0, 4.0), Summary(50, -1.0, 4.0))
    assert net.rel_lift == -2.0 and net.rel_ci[0] < -2.0
