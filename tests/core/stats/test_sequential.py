"""Tests for abflask.core.stats.sequential: the confidence sequence and SRM tests.

The confidence sequence is recomputed here from the published formulas
(Waudby-Smith et al., eqs. 9, 155 and 161 of arXiv:2103.06476v7), and
test_inference.py checks what ``compare`` builds from it against GrowthBook's
gbstats. The chi-square SRM test is checked against scipy; the sequential
SRM test against scipy's Dirichlet-multinomial and multinomial pmfs, and by
simulating hourly looks under the null.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from scipy import stats as sps  # type: ignore[import-untyped]

from abflask.core.stats import sequential
from abflask.core.stats.inference import Summary, proportion_test
from abflask.core.stats.sequential import (
    SRM_CONCENTRATION,
    TUNING,
    srm_p_value,
    srm_sequential_p_value,
)

# --- the confidence sequence, from the formulas ----------------------------------


def ref_rho2(alpha: float, tuning: float) -> float:
    return float((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning)


def ref_halfwidth(
    var: float, n: int, alpha: float = 0.05, tuning: float = TUNING
) -> float:
    rho2 = ref_rho2(alpha, tuning)
    s2 = var * n
    inner = 2 * (n * rho2 + 1) * np.log(np.sqrt(n * rho2 + 1) / alpha) / (n**2 * rho2)
    return float(np.sqrt(s2) * np.sqrt(inner))


def ref_p_sequential(
    est: float, var: float, n: int, alpha: float = 0.05, tuning: float = TUNING
) -> float:
    rho2 = ref_rho2(alpha, tuning)
    e = np.exp(rho2 * n * est**2 / (2 * var * (n * rho2 + 1))) / np.sqrt(n * rho2 + 1)
    return float(min(1.0, 1.0 / e))


SEQ_GRID = [
    (var, n, alpha, tuning)
    for var in (1e-6, 0.01, 4.0)
    for n in (2, 5_000, 200_000)
    for alpha, tuning in ((0.05, 10_000.0), (0.01, 1000.0))
]
SEQ_IDS = [f"var={v:g}-n={n}-alpha={a}-N={t:g}" for v, n, a, t in SEQ_GRID]


@pytest.mark.parametrize(("var", "n", "alpha", "tuning"), SEQ_GRID, ids=SEQ_IDS)
def test_sequential_halfwidth_matches_formula(
    var: float, n: int, alpha: float, tuning: float
) -> None:
    assert sequential.sequential_halfwidth(var, n, alpha, tuning) == pytest.approx(
        ref_halfwidth(var, n, alpha, tuning), rel=1e-12
    )


@pytest.mark.parametrize(("var", "n", "alpha", "tuning"), SEQ_GRID, ids=SEQ_IDS)
def test_sequential_multiplier_is_halfwidth_per_standard_error(
    var: float, n: int, alpha: float, tuning: float
) -> None:
    k = sequential.sequential_multiplier(n, alpha, tuning)
    assert k * math.sqrt(var) == pytest.approx(
        ref_halfwidth(var, n, alpha, tuning), rel=1e-12
    )


def test_the_memoised_multiplier_is_the_formulas_own_float() -> None:
    """Cached or not, the multiplier is bit for bit the float its formula
    gives (the live results and the job must agree exactly)."""
    cases = [
        (n, alpha, tuning)
        for n in (1, 2, 3, 5_000, 10_001, 10**9)
        for alpha, tuning in ((0.05, 10_000.0), (0.1, 500.0), (0.01, 1e6))
    ]
    sequential._multiplier.cache_clear()
    first = [sequential.sequential_multiplier(*case) for case in cases]
    again = [sequential.sequential_multiplier(*case) for case in cases]
    assert sequential._multiplier.cache_info().hits == len(cases)
    for (n, alpha, tuning), cached, repeated in zip(cases, first, again, strict=True):
        log_alpha = math.log(alpha)
        rho2 = (-2.0 * log_alpha + math.log(-2.0 * log_alpha + 1.0)) / tuning
        u = n * rho2 + 1.0
        formula = math.sqrt(2.0 * u * math.log(math.sqrt(u) / alpha) / (n * rho2))
        assert cached == repeated == formula


def test_the_multiplier_below_one_user_is_nan_and_not_cached() -> None:
    sequential._multiplier.cache_clear()
    assert math.isnan(sequential.sequential_multiplier(0))
    assert sequential._multiplier.cache_info().currsize == 0


@pytest.mark.parametrize(("var", "n", "alpha", "tuning"), SEQ_GRID, ids=SEQ_IDS)
@pytest.mark.parametrize("z", [2.0, 4.0, 8.0], ids=lambda z: f"z={z}")
def test_sequential_p_value_matches_formula(
    var: float, n: int, alpha: float, tuning: float, z: float
) -> None:
    est = z * math.sqrt(var)
    got = sequential.sequential_p_value(est, var, n, alpha, tuning)
    assert got == pytest.approx(
        ref_p_sequential(est, var, n, alpha, tuning), rel=1e-9, abs=1e-15
    )


def test_sequential_p_below_alpha_iff_zero_outside_interval() -> None:
    rng = np.random.default_rng(5)
    for _ in range(5_000):
        var = float(10 ** rng.uniform(-6, 1))
        n = int(rng.integers(2, 300_000))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        half = sequential.sequential_halfwidth(var, n, alpha)
        est = half * float(rng.uniform(0, 2)) * float(rng.choice([-1, 1]))
        if abs(abs(est) / half - 1) < 1e-9:
            continue  # too close to the boundary for floating point
        significant = sequential.sequential_p_value(est, var, n, alpha) < alpha
        assert significant == (abs(est) > half), (var, n, alpha, est)


@pytest.mark.parametrize(("var", "n", "alpha", "tuning"), SEQ_GRID, ids=SEQ_IDS)
def test_sequential_p_equals_alpha_on_the_interval_edge(
    var: float, n: int, alpha: float, tuning: float
) -> None:
    half = sequential.sequential_halfwidth(var, n, alpha, tuning)
    got = sequential.sequential_p_value(half, var, n, alpha, tuning)
    assert got == pytest.approx(alpha, rel=1e-9)


@pytest.mark.parametrize("n", [2, 10, 100, 1_000, 5_000, 50_000, 10**6, 10**9])
def test_sequential_halfwidth_exceeds_fixed_at_any_n(n: int) -> None:
    var = 0.09 / n
    assert sequential.sequential_halfwidth(var, n) > 1.959964 * math.sqrt(var)


def test_sequential_halfwidth_shrinks_as_n_grows() -> None:
    # Two equal arms with per-user variance 0.09: Var(diff) = 4 * 0.09 / n.
    n = np.unique(np.geomspace(2, 10**9, 200).astype(np.int64))
    widths = [sequential.sequential_halfwidth(0.36 / int(k), int(k)) for k in n]
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))


def test_sequential_p_value_survives_overwhelming_evidence() -> None:
    # exp() of the e-value would overflow; the log form must give 0.0 quietly.
    assert sequential.sequential_p_value(1.0, 1e-8, 10**7) == 0.0


@pytest.mark.parametrize(
    ("estimate", "expected"), [(0.5, 0.0), (-0.5, 0.0), (0.0, 1.0)]
)
def test_zero_variance_is_a_point_mass_not_a_shrug(
    estimate: float, expected: float
) -> None:
    assert sequential.sequential_p_value(estimate, 0.0, 100) == expected
    assert sequential.sequential_halfwidth(0.0, 100) == 0.0


@pytest.mark.parametrize(
    ("estimate", "variance", "n"),
    [(math.nan, 1.0, 10), (1.0, -1.0, 10), (1.0, math.nan, 10), (1.0, math.inf, 10)]
    + [(1.0, 1.0, 0)],
    ids=["nan-estimate", "negative-var", "nan-var", "inf-var", "no-users"],
)
def test_undefined_inputs_give_nan(estimate: float, variance: float, n: int) -> None:
    assert math.isnan(sequential.sequential_p_value(estimate, variance, n))
    if not math.isnan(estimate):
        assert math.isnan(sequential.sequential_halfwidth(variance, n))


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
            r = proportion_test(
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


# --- SRM: chi-square ---------------------------------------------------------------

SRM_CASES = {
    "balanced-ok": ([5_000, 5_050], [0.5, 0.5]),
    "balanced-srm": ([5_000, 5_400], [0.5, 0.5]),
    "three-unequal": ([1_000, 2_050, 950], [0.25, 0.5, 0.25]),
    "unnormalised": ([300, 310, 290, 330], [1, 1, 1, 1]),
    "3to1": ([80, 20], [3, 1]),
    "90-10-large": ([90_400, 9_600], [0.9, 0.1]),
}


@pytest.mark.parametrize(
    ("observed", "weights"), SRM_CASES.values(), ids=SRM_CASES.keys()
)
def test_srm_matches_scipy_chisquare(observed: list[int], weights: list[float]) -> None:
    w = np.asarray(weights, dtype=np.float64)
    expected = sum(observed) * w / w.sum()
    ref = sps.chisquare(observed, expected).pvalue
    assert srm_p_value(observed, weights) == pytest.approx(ref, abs=1e-12)


# --- SRM: sequential (Lindon & Malek) ------------------------------------------------


def ref_log_bayes_factor(
    observed: list[int], weights: list[float], concentration: float
) -> float:
    """ln of Dirichlet-multinomial over multinomial likelihood, by scipy."""
    w = np.asarray(weights, dtype=np.float64) / sum(weights)
    n = sum(observed)
    alternative = sps.dirichlet_multinomial.logpmf(observed, concentration * w, n)
    null = sps.multinomial.logpmf(observed, n, w)
    return float(alternative - null)


@pytest.mark.parametrize("concentration", [SRM_CONCENTRATION, 100.0, 1e6])
@pytest.mark.parametrize(
    ("observed", "weights"), SRM_CASES.values(), ids=SRM_CASES.keys()
)
def test_srm_sequential_is_the_inverse_bayes_factor(
    observed: list[int], weights: list[float], concentration: float
) -> None:
    log_bf = ref_log_bayes_factor(observed, weights, concentration)
    expected = min(1.0, math.exp(-log_bf))
    got = srm_sequential_p_value(observed, weights, concentration)
    assert got == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_srm_sequential_depends_only_on_the_cumulative_counts() -> None:
    # Lindon & Malek accumulate the Bayes factor batch by batch: each batch's
    # Dirichlet-multinomial predictive (prior updated by earlier batches) over
    # its multinomial likelihood. The product equals the one-shot factor.
    rng = np.random.default_rng(8)
    weights = [0.2, 0.3, 0.5]
    batches = rng.multinomial(700, [0.21, 0.3, 0.49], size=24)
    prior = SRM_CONCENTRATION * np.asarray(weights)
    log_bf = 0.0
    for batch, total in zip(batches, batches.cumsum(axis=0), strict=True):
        alt = sps.dirichlet_multinomial.logpmf(batch, prior, batch.sum())
        log_bf += alt - sps.multinomial.logpmf(batch, batch.sum(), weights)
        prior = prior + batch
        got = srm_sequential_p_value([int(x) for x in total], weights)
        assert got == pytest.approx(min(1.0, math.exp(-log_bf)), rel=1e-8)


HOURS = 24
PER_HOUR = 2_000
"""Users per hour (all variations) in the hourly-look simulations."""


@cache
def srm_false_alarm_rates() -> tuple[float, float]:
    """(sequential, chi-square) share of 5,000 healthy runs ever flagged.

    Each run checks SRM after every hour of 24 (2,000 users an hour, split
    20/30/50 as configured) at the 0.001 threshold, as the hourly job does.
    The chi-square side is scipy's, vectorised (srm_p_value equals it).
    """
    rng = np.random.default_rng(20240602)
    weights = [0.2, 0.3, 0.5]
    runs = rng.multinomial(PER_HOUR, weights, size=(5_000, HOURS)).cumsum(axis=1)
    seq = sum(
        any(srm_sequential_p_value([int(x) for x in c], weights) < 0.001 for c in run)
        for run in runs
    )
    expected = runs.sum(axis=2, keepdims=True) * np.asarray(weights)
    chi = sps.chisquare(runs, expected, axis=2).pvalue < 0.001
    return seq / runs.shape[0], float(chi.any(axis=1).mean())


def test_srm_sequential_false_alarms_stay_at_the_threshold_over_hourly_looks() -> None:
    assert srm_false_alarm_rates()[0] <= 0.0015


def test_srm_chi_square_false_alarms_accumulate_over_hourly_looks() -> None:
    # Proves the simulation can tell: the fixed test flags healthy runs.
    sequential_rate, chi_rate = srm_false_alarm_rates()
    assert chi_rate > 0.004 and chi_rate > 3 * sequential_rate


def test_srm_sequential_flags_a_51_49_split() -> None:
    rng = np.random.default_rng(4)
    observed = [int(x) for x in rng.multinomial(200_000, [0.51, 0.49])]
    assert srm_sequential_p_value(observed, [0.5, 0.5]) < 1e-6
    # ...and a healthy split of the same size is not flagged.
    healthy = [int(x) for x in rng.multinomial(200_000, [0.5, 0.5])]
    assert srm_sequential_p_value(healthy, [0.5, 0.5]) > 0.01


# --- SRM: edge cases shared by both tests -------------------------------------------

SRM_TESTS = [srm_p_value, srm_sequential_p_value]


@pytest.mark.parametrize("test", SRM_TESTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("observed", "weights", "expected"),
    [
        ([0, 0], [0.5, 0.5], 1.0),
        ([100, 0, 110], [0.5, 0.0, 0.5], None),
        ([100, 1, 110], [0.5, 0.0, 0.5], 0.0),
        ([100, 0], [1.0, 0.0], 1.0),
    ],
    ids=["zero-total", "zero-weight-empty", "zero-weight-filled", "one-left"],
)
def test_srm_edge_cases(
    test: object, observed: list[int], weights: list[float], expected: float | None
) -> None:
    assert callable(test)
    if expected is None:  # the empty zero-weight variation is simply dropped
        expected = test([100, 110], [1, 1])
    assert test(observed, weights) == expected


@pytest.mark.parametrize("test", SRM_TESTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("observed", "weights", "message"),
    [
        ([1, 2, 3], [0.5, 0.5], "equal-length"),
        ([1, 2], [-0.5, 1.5], "non-negative"),
        ([1, 2], [0.0, 0.0], "positive sum"),
        ([-1, 2], [0.5, 0.5], "counts must be non-negative"),
    ],
    ids=["lengths", "negative-weight", "zero-weights", "negative-count"],
)
def test_srm_rejects_bad_input(
    test: object, observed: list[int], weights: list[float], message: str
) -> None:
    assert callable(test)
    with pytest.raises(ValueError, match=message):
        test(observed, weights)


def test_srm_sequential_rejects_a_non_positive_concentration() -> None:
    with pytest.raises(ValueError, match="concentration"):
        srm_sequential_p_value([10, 10], [0.5, 0.5], concentration=0.0)
