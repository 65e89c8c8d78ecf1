"""Tests for abflask.stats against statsmodels/scipy and the published formulas.

Every data set is synthetic with a fixed seed. Reference numbers come from
statsmodels or scipy where they exist; the delta-method and sequential numbers
are recomputed here, straight from the formulas, in plain numpy.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats as sps  # type: ignore[import-untyped]
from statsmodels.stats import proportion  # type: ignore[import-untyped]
from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]
from statsmodels.stats.weightstats import (  # type: ignore[import-untyped]
    CompareMeans,
    DescrStatsW,
)

from abflask.analysis import stats
from abflask.analysis.stats import Comparison, Summary

Array = npt.NDArray[np.float64]
TOL = 1e-6
"""Absolute tolerance against statsmodels/scipy (probability or metric units)."""


# --- data sets ----------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    n_c: int
    n_t: int
    p_c: float
    p_t: float
    seed: int


@dataclass(frozen=True)
class Data:
    """Per-user conversions (0/1) and values for control (c) and treatment (t)."""

    conv_c: Array
    conv_t: Array
    val_c: Array
    val_t: Array


SPECS = {
    "balanced": Spec(1_000, 1_000, 0.10, 0.12, seed=11),
    "unbalanced": Spec(3_000, 700, 0.10, 0.13, seed=12),
    "small": Spec(30, 30, 0.30, 0.40, seed=13),
    "large": Spec(100_000, 100_000, 0.10, 0.102, seed=14),
    "rare": Spec(20_000, 20_000, 0.01, 0.012, seed=15),
}


@cache
def make_data(name: str) -> Data:
    spec = SPECS[name]
    rng = np.random.default_rng(spec.seed)
    conv_c = (rng.random(spec.n_c) < spec.p_c).astype(np.float64)
    conv_t = (rng.random(spec.n_t) < spec.p_t).astype(np.float64)
    # Non-converters have value 0; converters spend a skewed amount.
    val_c = conv_c * rng.gamma(2.0, 10.0, spec.n_c)
    val_t = conv_t * rng.gamma(2.0, 11.0, spec.n_t)
    return Data(conv_c, conv_t, val_c, val_t)


@pytest.fixture(params=list(SPECS), ids=list(SPECS))
def data(request: pytest.FixtureRequest) -> Data:
    made = make_data(request.param)
    assert made.conv_c.sum() > 0 and made.conv_t.sum() > 0  # no degenerate set
    return made


def counts(d: Data) -> tuple[int, int, int, int]:
    """Treatment converters and users, then control: statsmodels' order."""
    return int(d.conv_t.sum()), d.conv_t.size, int(d.conv_c.sum()), d.conv_c.size


def conversion(d: Data) -> tuple[Summary, Summary]:
    c_t, n_t, c_c, n_c = counts(d)
    return Summary.of_counts(c_c, n_c), Summary.of_counts(c_t, n_t)


def values(d: Data) -> tuple[Summary, Summary]:
    return Summary.of_values(d.val_c), Summary.of_values(d.val_t)


def compare(d: Data, kind: str) -> Comparison:
    if kind == "conversion":
        return stats.proportion_test(*conversion(d))
    return stats.welch_test(*values(d))


KINDS = ["conversion", "value"]


# --- independent references, written from the formulas ------------------------


def ref_rho2(alpha: float, tuning: float) -> float:
    return float((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning)


def ref_halfwidth(
    var: float, n: int, alpha: float = 0.05, tuning: float = 5000.0
) -> float:
    rho2 = ref_rho2(alpha, tuning)
    s2 = var * n
    inner = 2 * (n * rho2 + 1) * np.log(np.sqrt(n * rho2 + 1) / alpha) / (n**2 * rho2)
    return float(np.sqrt(s2) * np.sqrt(inner))


def ref_p_sequential(
    est: float, var: float, n: int, alpha: float = 0.05, tuning: float = 5000.0
) -> float:
    rho2 = ref_rho2(alpha, tuning)
    e = np.exp(rho2 * n * est**2 / (2 * var * (n * rho2 + 1))) / np.sqrt(n * rho2 + 1)
    return float(min(1.0, 1.0 / e))


def ref_moments(d: Data, kind: str) -> tuple[float, float, float, float, int, int]:
    """m_c, m_t, v_c, v_t, n_c, n_t as each test defines the per-user variance."""
    if kind == "conversion":
        m_c, m_t = d.conv_c.mean(), d.conv_t.mean()
        v_c, v_t = m_c * (1 - m_c), m_t * (1 - m_t)
        return m_c, m_t, v_c, v_t, d.conv_c.size, d.conv_t.size
    return (
        d.val_c.mean(),
        d.val_t.mean(),
        d.val_c.var(ddof=1),
        d.val_t.var(ddof=1),
        d.val_c.size,
        d.val_t.size,
    )


def ref_relative(d: Data, kind: str) -> tuple[float, float]:
    """R = m_t/m_c - 1 and its delta-method variance."""
    m_c, m_t, v_c, v_t, n_c, n_t = ref_moments(d, kind)
    var = v_t / (n_t * m_c**2) + v_c * m_t**2 / (n_c * m_c**4)
    return m_t / m_c - 1, var


def ref_abs_variance(d: Data, kind: str) -> float:
    m_c, m_t, v_c, v_t, n_c, n_t = ref_moments(d, kind)
    return v_t / n_t + v_c / n_c


def ref_quantile(d: Data, kind: str, alpha: float = 0.05) -> float:
    if kind == "conversion":
        return float(sps.norm.ppf(1 - alpha / 2))
    dof = CompareMeans(DescrStatsW(d.val_t), DescrStatsW(d.val_c)).dof_satt()
    return float(sps.t.ppf(1 - alpha / 2, dof))


# --- summaries ----------------------------------------------------------------


@pytest.mark.parametrize(("c", "n"), [(0, 10), (3, 10), (10, 10), (120, 1000)])
def test_of_counts_is_rate_with_unpooled_variance(c: int, n: int) -> None:
    s = Summary.of_counts(c, n)
    assert (s.n, s.mean) == (n, c / n)
    assert s.var == pytest.approx((c / n) * (1 - c / n), abs=1e-15)


def test_of_values_matches_numpy(data: Data) -> None:
    s = Summary.of_values(data.val_t)
    assert s.n == data.val_t.size
    assert s.mean == pytest.approx(data.val_t.mean(), rel=1e-12)
    assert s.var == pytest.approx(data.val_t.var(ddof=1), rel=1e-12)


def test_from_sums_matches_of_values(data: Data) -> None:
    x = data.val_c
    s = Summary.from_sums(x.size, float(x.sum()), float((x * x).sum()))
    expected = Summary.of_values(x)
    assert s.n == expected.n
    assert s.mean == pytest.approx(expected.mean, rel=1e-12)
    assert s.var == pytest.approx(expected.var, rel=1e-9)


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (Summary.of_values(np.array([])), (0, 0.0, 0.0)),
        (Summary.of_values(np.array([4.0])), (1, 4.0, 0.0)),
        (Summary.of_counts(0, 0), (0, 0.0, 0.0)),
        (Summary.from_sums(0, 0.0, 0.0), (0, 0.0, 0.0)),
        (Summary.from_sums(1, 4.0, 16.0), (1, 4.0, 0.0)),
    ],
    ids=["values-empty", "values-one", "counts-empty", "sums-empty", "sums-one"],
)
def test_summary_of_fewer_than_two_users_has_zero_variance(
    summary: Summary, expected: tuple[int, float, float]
) -> None:
    assert (summary.n, summary.mean, summary.var) == expected


def test_from_sums_clamps_rounding_below_zero() -> None:
    # Three users of value 1 whose squares summed a hair low.
    assert Summary.from_sums(3, 3.0, 3.0 - 1e-12).var == 0.0


# --- fixed-horizon tests against statsmodels/scipy ------------------------------


def test_proportion_p_value_matches_statsmodels(data: Data) -> None:
    ref = proportion.test_proportions_2indep(
        *counts(data), method="wald", compare="diff"
    )
    assert stats.proportion_test(*conversion(data)).p_value == pytest.approx(
        ref.pvalue, abs=TOL
    )


@pytest.mark.parametrize("alpha", [0.05, 0.1], ids=["alpha=0.05", "alpha=0.1"])
def test_proportion_ci_matches_statsmodels(data: Data, alpha: float) -> None:
    low, high = proportion.confint_proportions_2indep(
        *counts(data), method="wald", compare="diff", alpha=alpha
    )
    result = stats.proportion_test(*conversion(data), alpha=alpha)
    assert result.abs_ci == pytest.approx((low, high), abs=TOL)
    assert result.abs_lift == pytest.approx(data.conv_t.mean() - data.conv_c.mean())


def test_welch_p_value_matches_scipy(data: Data) -> None:
    ref = sps.ttest_ind(data.val_t, data.val_c, equal_var=False)
    assert stats.welch_test(*values(data)).p_value == pytest.approx(ref.pvalue, abs=TOL)


@pytest.mark.parametrize("alpha", [0.05, 0.1], ids=["alpha=0.05", "alpha=0.1"])
def test_welch_ci_matches_statsmodels(data: Data, alpha: float) -> None:
    cm = CompareMeans(DescrStatsW(data.val_t), DescrStatsW(data.val_c))
    low, high = cm.tconfint_diff(alpha=alpha, usevar="unequal")
    assert stats.welch_test(*values(data), alpha=alpha).abs_ci == pytest.approx(
        (low, high), abs=TOL
    )


def test_welch_df_matches_statsmodels_and_scipy(data: Data) -> None:
    cm = CompareMeans(DescrStatsW(data.val_t), DescrStatsW(data.val_c))
    scipy_df = sps.ttest_ind(data.val_t, data.val_c, equal_var=False).df
    df = stats.welch_df(*values(data))
    assert df == pytest.approx(cm.dof_satt(), rel=1e-9)
    assert df == pytest.approx(scipy_df, rel=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_relative_ci_is_delta_method(data: Data, kind: str) -> None:
    rel, var = ref_relative(data, kind)
    half = ref_quantile(data, kind) * np.sqrt(var)
    result = compare(data, kind)
    assert result.rel_lift == pytest.approx(rel, rel=1e-12)
    assert result.rel_ci == pytest.approx((rel - half, rel + half), rel=1e-9)


def test_relative_ci_covers_true_lift_in_simulation() -> None:
    # 2,000 experiments at 10% vs 11% conversion, 4,000 users per arm: the
    # true relative lift is 0.1, and a 95% interval should cover it ~95% of
    # the time (binomial sd of the rate is ~0.005 at this size).
    rng = np.random.default_rng(7)
    conv = rng.binomial(4_000, [0.10, 0.11], size=(2_000, 2))
    covered = 0
    for c_c, c_t in conv:
        ci = stats.proportion_test(
            Summary.of_counts(int(c_c), 4_000), Summary.of_counts(int(c_t), 4_000)
        ).rel_ci
        covered += ci[0] <= 0.1 <= ci[1]
    assert 0.93 <= covered / 2_000 <= 0.97


# --- SRM and Holm ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "weights"),
    [
        ([5_000, 5_050], [0.5, 0.5]),
        ([5_000, 5_400], [0.5, 0.5]),
        ([1_000, 2_050, 950], [0.25, 0.5, 0.25]),
        ([300, 310, 290, 330], [1, 1, 1, 1]),
        ([80, 20], [3, 1]),
    ],
    ids=["balanced-ok", "balanced-srm", "three-unequal", "unnormalised", "3to1"],
)
def test_srm_matches_scipy_chisquare(observed: list[int], weights: list[float]) -> None:
    w = np.asarray(weights, dtype=np.float64)
    expected = sum(observed) * w / w.sum()
    ref = sps.chisquare(observed, expected).pvalue
    assert stats.srm_p_value(observed, weights) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize(
    ("observed", "weights", "expected"),
    [
        ([0, 0], [0.5, 0.5], 1.0),
        ([100, 0, 110], [0.5, 0.0, 0.5], stats.srm_p_value([100, 110], [1, 1])),
        ([100, 1, 110], [0.5, 0.0, 0.5], 0.0),
    ],
    ids=["zero-total", "zero-weight-empty", "zero-weight-filled"],
)
def test_srm_edge_cases(
    observed: list[int], weights: list[float], expected: float
) -> None:
    assert stats.srm_p_value(observed, weights) == expected


HOLM_CASES = {
    "spread": [0.01, 0.04, 0.03, 0.005],
    "ties": [0.02, 0.02, 0.02, 0.5],
    "capped": [0.3, 0.6, 0.9],
    "single": [0.04],
    "many": list(np.random.default_rng(3).uniform(0, 0.2, 25)),
}


@pytest.mark.parametrize("p", HOLM_CASES.values(), ids=HOLM_CASES.keys())
def test_holm_matches_statsmodels(p: list[float]) -> None:
    ref = multipletests(p, method="holm")[1]
    assert stats.holm(p) == pytest.approx(list(ref), abs=1e-12)


def test_holm_keeps_nan_out_of_the_family() -> None:
    adjusted = stats.holm([0.01, math.nan, 0.04])
    assert math.isnan(adjusted[1])
    assert [adjusted[0], adjusted[2]] == pytest.approx([0.02, 0.04], abs=1e-12)


# --- sequential inference ---------------------------------------------------------

SEQ_GRID = [
    (var, n, alpha, tuning)
    for var in (1e-6, 0.01, 4.0)
    for n in (2, 5_000, 200_000)
    for alpha, tuning in ((0.05, 5000.0), (0.01, 1000.0))
]
SEQ_IDS = [f"var={v:g}-n={n}-alpha={a}-N={t:g}" for v, n, a, t in SEQ_GRID]


@pytest.mark.parametrize(("var", "n", "alpha", "tuning"), SEQ_GRID, ids=SEQ_IDS)
def test_sequential_halfwidth_matches_formula(
    var: float, n: int, alpha: float, tuning: float
) -> None:
    assert stats.sequential_halfwidth(var, n, alpha, tuning) == pytest.approx(
        ref_halfwidth(var, n, alpha, tuning), rel=1e-12
    )


@pytest.mark.parametrize(("var", "n", "alpha", "tuning"), SEQ_GRID, ids=SEQ_IDS)
@pytest.mark.parametrize("z", [2.0, 4.0, 8.0], ids=lambda z: f"z={z}")
def test_sequential_p_value_matches_formula(
    var: float, n: int, alpha: float, tuning: float, z: float
) -> None:
    est = z * math.sqrt(var)
    assert stats.sequential_p_value(est, var, n, alpha, tuning) == pytest.approx(
        ref_p_sequential(est, var, n, alpha, tuning), rel=1e-9, abs=1e-15
    )


@pytest.mark.parametrize("kind", KINDS)
def test_comparison_uses_sequential_formulas(data: Data, kind: str) -> None:
    n = data.conv_c.size + data.conv_t.size
    rel, var_rel = ref_relative(data, kind)
    var_abs = ref_abs_variance(data, kind)
    diff = ref_moments(data, kind)[1] - ref_moments(data, kind)[0]
    h_abs, h_rel = ref_halfwidth(var_abs, n), ref_halfwidth(var_rel, n)
    result = compare(data, kind)
    assert result.abs_ci_sequential == pytest.approx((diff - h_abs, diff + h_abs))
    assert result.rel_ci_sequential == pytest.approx((rel - h_rel, rel + h_rel))
    assert result.p_value_sequential == pytest.approx(
        ref_p_sequential(rel, var_rel, n), rel=1e-9
    )


def test_sequential_p_below_alpha_iff_zero_outside_interval() -> None:
    rng = np.random.default_rng(5)
    for _ in range(5_000):
        var = float(10 ** rng.uniform(-6, 1))
        n = int(rng.integers(2, 300_000))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        half = stats.sequential_halfwidth(var, n, alpha)
        est = half * float(rng.uniform(0, 2)) * float(rng.choice([-1, 1]))
        if abs(abs(est) / half - 1) < 1e-9:
            continue  # too close to the boundary for floating point
        significant = stats.sequential_p_value(est, var, n, alpha) < alpha
        assert significant == (abs(est) > half), (var, n, alpha, est)


@pytest.mark.parametrize(("var", "n", "alpha", "tuning"), SEQ_GRID, ids=SEQ_IDS)
def test_sequential_p_equals_alpha_on_the_interval_edge(
    var: float, n: int, alpha: float, tuning: float
) -> None:
    half = stats.sequential_halfwidth(var, n, alpha, tuning)
    assert stats.sequential_p_value(half, var, n, alpha, tuning) == pytest.approx(
        alpha, rel=1e-9
    )


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_interval_is_wider_than_fixed(data: Data, kind: str) -> None:
    r = compare(data, kind)
    for fixed, seq in (
        (r.abs_ci, r.abs_ci_sequential),
        (r.rel_ci, r.rel_ci_sequential),
    ):
        assert seq[0] < fixed[0] < fixed[1] < seq[1]


@pytest.mark.parametrize("n", [2, 10, 100, 1_000, 5_000, 50_000, 10**6, 10**9])
def test_sequential_halfwidth_exceeds_fixed_at_any_n(n: int) -> None:
    var = 0.09 / n
    assert stats.sequential_halfwidth(var, n) > 1.959964 * math.sqrt(var)


def test_sequential_halfwidth_shrinks_as_n_grows() -> None:
    # Two equal arms with per-user variance 0.09: Var(diff) = 4 * 0.09 / n.
    n = np.unique(np.geomspace(2, 10**9, 200).astype(np.int64))
    widths = [stats.sequential_halfwidth(0.36 / int(k), int(k)) for k in n]
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))


def test_sequential_p_value_survives_overwhelming_evidence() -> None:
    # exp() of the e-value would overflow; the log form must give 0.0 quietly.
    assert stats.sequential_p_value(1.0, 1e-8, 10**7) == 0.0


# --- A/A simulation: peeking with and without the sequential test ------------

LOOKS = 24
STEP = 500
"""Users per arm added between looks (users)."""


@cache
def aa_false_positive_rates() -> tuple[float, float]:
    """(sequential, naive) share of 2,000 A/A runs significant at any look."""
    rng = np.random.default_rng(20240601)
    conv = rng.binomial(STEP, 0.1, size=(2_000, LOOKS, 2)).cumsum(axis=1)
    seq = naive = 0
    for run in conv:
        hit_seq = hit_naive = False
        for look, (c_c, c_t) in enumerate(run, start=1):
            n = look * STEP
            r = stats.proportion_test(
                Summary.of_counts(int(c_c), n), Summary.of_counts(int(c_t), n)
            )
            hit_seq |= r.p_value_sequential < 0.05
            hit_naive |= r.p_value < 0.05
        seq += hit_seq
        naive += hit_naive
    return seq / 2_000, naive / 2_000


def test_aa_sequential_false_positive_rate_stays_below_alpha() -> None:
    assert aa_false_positive_rates()[0] <= 0.05


def test_aa_naive_peeking_inflates_false_positives() -> None:
    # Proves the simulation can tell: the same looks with the fixed z-test.
    assert aa_false_positive_rates()[1] > 0.08


# --- sample size ---------------------------------------------------------------

CONTROLS = {
    "conversion": Summary.of_counts(100, 1_000),
    "value": Summary(n=1_000, mean=2.0, var=9.0),
}


def ref_detects(control: Summary, kind: str, rel_effect: float, n: int) -> bool:
    m_c = control.mean
    m_t = m_c * (1 + rel_effect)
    if kind == "conversion":
        per_user = m_c * (1 - m_c) + m_t * (1 - m_t)
    else:
        per_user = 2 * control.var
    var = per_user / n
    z_power = float(sps.norm.ppf(0.8))
    return bool(abs(m_c * rel_effect) >= ref_halfwidth(var, 2 * n) + z_power * var**0.5)


@pytest.mark.parametrize("kind", KINDS)
def test_users_needed_grows_as_effect_shrinks(kind: str) -> None:
    needed = [stats.users_needed(CONTROLS[kind], kind, e) for e in (0.2, 0.1, 0.05)]
    assert needed[0] is not None and needed[1] is not None and needed[2] is not None
    assert needed[0] < needed[1] < needed[2]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rel_effect", [0.3, 0.05, -0.05], ids=str)
def test_users_needed_is_smallest_n_meeting_the_criterion(
    kind: str, rel_effect: float
) -> None:
    control = CONTROLS[kind]
    n = stats.users_needed(control, kind, rel_effect)
    assert n is not None and n > 2
    assert ref_detects(control, kind, rel_effect, n)
    assert not ref_detects(control, kind, rel_effect, n - 1)


@pytest.mark.parametrize(
    ("control", "kind", "rel_effect"),
    [
        (Summary.of_counts(0, 1_000), "conversion", 0.05),
        (Summary(1_000, 0.0, 1.0), "value", 0.05),
        (Summary(1_000, 2.0, 0.0), "value", 0.05),
        (Summary.of_counts(990, 1_000), "conversion", 0.05),
        (Summary.of_counts(100, 1_000), "conversion", 0.0),
    ],
    ids=["zero-rate", "zero-mean", "zero-variance", "rate-above-1", "no-effect"],
)
def test_users_needed_is_none_when_undefined(
    control: Summary, kind: str, rel_effect: float
) -> None:
    assert stats.users_needed(control, kind, rel_effect) is None


def test_users_needed_is_capped() -> None:
    n = stats.users_needed(CONTROLS["conversion"], "conversion", 1e-7)
    assert n == stats.MAX_USERS


def test_users_needed_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        stats.users_needed(CONTROLS["value"], "revenue")


# --- degenerate inputs and output shape -----------------------------------------

NONE2 = [None, None]
DEGENERATE: dict[str, tuple[Comparison, dict[str, Any]]] = {
    "empty-control": (
        stats.proportion_test(Summary.of_counts(0, 0), Summary.of_counts(5, 50)),
        {"abs_lift": None, "p_value": None, "p_value_sequential": None},
    ),
    "one-user-arm": (
        stats.welch_test(Summary.of_values(np.array([1.0])), Summary(50, 1.5, 1.0)),
        {"abs_lift": 0.5, "rel_lift": 0.5, "p_value": 1.0, "p_value_sequential": 1.0},
    ),
    "zero-variance-both": (
        stats.welch_test(Summary(40, 2.0, 0.0), Summary(40, 3.0, 0.0)),
        {"abs_lift": 1.0, "rel_lift": 0.5, "p_value": 1.0, "p_value_sequential": 1.0},
    ),
    "no-conversions": (
        stats.proportion_test(Summary.of_counts(0, 100), Summary.of_counts(0, 100)),
        {"abs_lift": 0.0, "rel_lift": None, "p_value": 1.0, "p_value_sequential": None},
    ),
}


@pytest.mark.parametrize(
    ("result", "expected"), DEGENERATE.values(), ids=DEGENERATE.keys()
)
def test_degenerate_inputs_give_nan_intervals(
    result: Comparison, expected: dict[str, Any]
) -> None:
    out = result.to_dict()
    for key in ("abs_ci", "rel_ci", "abs_ci_sequential", "rel_ci_sequential"):
        assert out[key] == NONE2, key
    assert {k: out.get(k, "missing") for k in expected} == expected


def test_zero_control_mean_keeps_absolute_results() -> None:
    r = stats.proportion_test(Summary.of_counts(0, 500), Summary.of_counts(10, 500))
    assert r.abs_lift == pytest.approx(0.02)
    assert r.p_value < 0.05 and not math.isnan(r.abs_ci_sequential[0])
    assert math.isnan(r.rel_lift) and math.isnan(r.p_value_sequential)


def test_to_dict_is_strict_json_with_list_intervals(data: Data) -> None:
    out = compare(data, "value").to_dict()
    assert list(out) == [f.name for f in fields(Comparison)]
    assert all(isinstance(out[k], list) for k in out if "_ci" in k)
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("kind", KINDS)
def test_results_are_python_floats(data: Data, kind: str) -> None:
    r = compare(data, kind)
    for f in fields(r):
        value = getattr(r, f.name)
        parts = value if isinstance(value, tuple) else (value,)
        assert all(type(x) is float for x in parts), f.name


def test_stats_imports_no_io_or_test_library() -> None:
    code = (
        "import sys, abflask.analysis.stats; "
        "print(sorted({'flask', 'redis', 'pandas', 'statsmodels'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
