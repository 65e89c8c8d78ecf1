"""Tests for abflask.core.stats.inference against statsmodels, scipy and gbstats.

Every data set is synthetic with a fixed seed. Reference numbers come from
statsmodels or scipy where they exist, from GrowthBook's gbstats for the
sequential statistics of the absolute difference, and from an independent
numerical inversion for Fieller's relative intervals. The degenerate states
are pinned in test_inference_degenerate.py, the confidence sequence and the
SRM tests in test_sequential.py; the numpy summaries in
tests/analysis/test_moments.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass, fields
from functools import cache

import numpy as np
import numpy.typing as npt
import pytest
from gbstats.frequentist.tests import (  # type: ignore[import-untyped]
    SequentialConfig,
    SequentialTwoSidedTTest,
)
from gbstats.models.statistics import (  # type: ignore[import-untyped]
    ProportionStatistic,
    SampleMeanStatistic,
)
from scipy import optimize  # type: ignore[import-untyped]
from scipy import stats as sps  # type: ignore[import-untyped]
from statsmodels.stats import proportion  # type: ignore[import-untyped]
from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]
from statsmodels.stats.power import NormalIndPower  # type: ignore[import-untyped]
from statsmodels.stats.weightstats import (  # type: ignore[import-untyped]
    CompareMeans,
    DescrStatsW,
)

from abflask.analysis.moments import of_values
from abflask.core.stats import inference as stats
from abflask.core.stats.inference import Comparison, Summary
from abflask.core.stats.sequential import TUNING

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
    return of_values(d.val_c), of_values(d.val_t)


def compare(d: Data, kind: str, **kwargs: float) -> Comparison:
    arms = conversion(d) if kind == "conversion" else values(d)
    return stats.compare(*arms, kind, **kwargs)  # type: ignore[arg-type]


KINDS = ["conversion", "value"]


# --- independent references, written from the formulas ------------------------


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


def ref_quantile(d: Data, kind: str, alpha: float = 0.05) -> float:
    if kind == "conversion":
        return float(sps.norm.ppf(1 - alpha / 2))
    dof = CompareMeans(DescrStatsW(d.val_t), DescrStatsW(d.val_c)).dof_satt()
    return float(sps.t.ppf(1 - alpha / 2, dof))


def ref_multiplier(n: int, alpha: float = 0.05, tuning: float = TUNING) -> float:
    """Waudby-Smith's half-width per standard error, from eq. 9 and 161."""
    rho2 = (-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning
    u = n * rho2 + 1
    return float(np.sqrt(2 * u * np.log(np.sqrt(u) / alpha) / (n * rho2)))


def ref_fieller(
    m_c: float, m_t: float, se2_c: float, se2_t: float, q: float
) -> tuple[float, float]:
    """Relative-lift interval by inverting the test of m_t - r m_c = 0 over r.

    Walks out from r = m_t/m_c in doubling steps until the test rejects,
    then bisects each edge with brentq: no quadratic formula involved. An
    accepted r beyond 1e12 standard errors means an unbounded set (NaN, NaN).
    """

    def excess(r: float) -> float:  # > 0 where the test rejects
        return abs(m_t - r * m_c) / math.sqrt(se2_t + r * r * se2_c) - q

    ratio = m_t / m_c
    step = math.sqrt(se2_t + ratio**2 * se2_c) / abs(m_c)
    edges = []
    for sign in (-1.0, 1.0):
        far = step
        while excess(ratio + sign * far) <= 0:
            far *= 2
            if far > 1e12 * step:
                return (math.nan, math.nan)
        edges.append(optimize.brentq(excess, ratio, ratio + sign * far, xtol=1e-15))
    low_r, high_r = edges
    if m_c > 0:
        return (low_r - 1, high_r - 1)
    return (1 - high_r, 1 - low_r)


def clipped(ci: tuple[float, float]) -> tuple[float, float]:
    """A relative interval of a non-negative metric: no lift below -100%."""
    return (max(ci[0], -1.0), ci[1])


def gbstats_sequential(
    d: Data, kind: str, tuning: float
) -> tuple[float, tuple[float, float]]:
    """GrowthBook's sequential p-value and interval of the absolute difference."""
    if kind == "conversion":
        c_t, n_t, c_c, n_c = counts(d)
        a, b = ProportionStatistic(n=n_c, sum=c_c), ProportionStatistic(n=n_t, sum=c_t)
    else:
        a, b = (
            SampleMeanStatistic(n=x.size, sum=x.sum(), sum_squares=(x * x).sum())
            for x in (d.val_c, d.val_t)
        )
    config = SequentialConfig(
        difference_type="absolute", sequential_tuning_parameter=tuning
    )
    result = SequentialTwoSidedTTest(a, b, config).compute_result()
    assert result.error_message is None
    return float(result.p_value), (float(result.ci[0]), float(result.ci[1]))


# --- summaries ----------------------------------------------------------------


@pytest.mark.parametrize(("c", "n"), [(0, 10), (3, 10), (10, 10), (120, 1000)])
def test_of_counts_is_rate_with_unpooled_variance(c: int, n: int) -> None:
    s = Summary.of_counts(c, n)
    assert (s.n, s.mean) == (n, c / n)
    assert s.var == pytest.approx((c / n) * (1 - c / n), abs=1e-15)


def test_of_sums_is_the_sample_variance_of_values_with_zeros(data: Data) -> None:
    # Sums over the users with a value; the others count as 0.
    x = data.val_t
    s = Summary.of_sums(x.size, float(x.sum()), float((x * x).sum()))
    assert s.n == x.size
    assert s.mean == pytest.approx(x.mean(), rel=1e-12)
    assert s.var == pytest.approx(x.var(ddof=1), rel=1e-9)


@pytest.mark.parametrize(
    ("n", "total", "squares", "expected"),
    [
        (0, 0.0, 0.0, (0, 0.0, 0.0)),
        (1, 4.0, 16.0, (1, 4.0, 0.0)),
        (3, 6.5, 22.25, (3, 6.5 / 3, (22.25 - 6.5**2 / 3) / 2)),
        (4, 4.0, 4.0, (4, 1.0, 0.0)),
        (3, 3.0, 3.0 - 1e-15, (3, 1.0, 0.0)),
    ],
    ids=["empty", "one", "three", "constant", "rounding-below-zero"],
)
def test_of_sums_summarises_small_samples(
    n: int, total: float, squares: float, expected: tuple[int, float, float]
) -> None:
    s = Summary.of_sums(n, total, squares)
    assert (s.n, s.mean) == expected[:2]
    assert s.var == pytest.approx(expected[2], abs=1e-15)
    assert s.var >= 0.0


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
def test_compare_is_what_the_wrappers_return(data: Data, kind: str) -> None:
    test = stats.proportion_test if kind == "conversion" else stats.welch_test
    arms = conversion(data) if kind == "conversion" else values(data)
    assert test(*arms, alpha=0.1, tuning=2_000.0) == stats.compare(
        *arms, kind, alpha=0.1, tuning=2_000.0
    )
    assert test(*arms).state == "ok"


WITHOUT_TESTS = {"p_value", "p_value_sequential", "abs_ci", "rel_ci"}
"""What ``compare(..., tests=False)`` leaves out (NaN) in states ok/adjusted."""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_compare_without_tests_keeps_every_lift_and_band(
    data: Data, kind: str, alpha: float
) -> None:
    arms = conversion(data) if kind == "conversion" else values(data)
    full = stats.compare(*arms, kind, alpha=alpha, tuning=2_000.0).to_dict()
    lean = stats.compare(*arms, kind, alpha=alpha, tuning=2_000.0, tests=False)
    assert lean.state in ("ok", "adjusted")
    got = lean.to_dict()
    for name in WITHOUT_TESTS:
        assert got.pop(name) in (None, [None, None])
        full.pop(name)
    assert got == full  # the very same floats


@pytest.mark.parametrize(
    ("control", "treatment", "kind"),
    [
        (Summary(0, 0.0, 0.0), Summary(10, 1.0, 1.0), "value"),
        (Summary(1, 2.0, 0.0), Summary(10, 1.0, 1.0), "value"),
        (Summary(40, 2.0, 0.0), Summary(40, 3.0, 0.0), "value"),
        (Summary.of_counts(0, 50), Summary.of_counts(5, 50), "conversion"),
    ],
)
def test_compare_without_tests_only_skips_work_in_degenerate_states(
    control: Summary, treatment: Summary, kind: str
) -> None:
    full = stats.compare(control, treatment, kind).to_dict()
    lean = stats.compare(control, treatment, kind, tests=False).to_dict()
    if full["state"] == "adjusted":
        full |= {name: lean[name] for name in WITHOUT_TESTS}
    assert lean == full


def test_compare_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        stats.compare(Summary(10, 1.0, 1.0), Summary(10, 1.0, 1.0), "revenue")


# --- relative lift: Fieller ------------------------------------------------------
#
# The relative interval was delta-method (symmetric, unbounded below) before;
# it is now Fieller's, so these tests check it against a numerical inversion
# of the ratio test and check the delta method only as its large-sample limit.


@pytest.mark.parametrize("kind", KINDS)
def test_relative_lift_is_difference_over_absolute_control_mean(
    data: Data, kind: str
) -> None:
    m_c, m_t, *_ = ref_moments(data, kind)
    assert compare(data, kind).rel_lift == pytest.approx((m_t - m_c) / abs(m_c))


@pytest.mark.parametrize("alpha", [0.05, 0.1], ids=["alpha=0.05", "alpha=0.1"])
@pytest.mark.parametrize("kind", KINDS)
def test_relative_ci_inverts_the_ratio_test(
    data: Data, kind: str, alpha: float
) -> None:
    m_c, m_t, v_c, v_t, n_c, n_t = ref_moments(data, kind)
    q = ref_quantile(data, kind, alpha)
    expected = clipped(ref_fieller(m_c, m_t, v_c / n_c, v_t / n_t, q))
    got = compare(data, kind, alpha=alpha).rel_ci
    assert got == pytest.approx(expected, rel=1e-9, nan_ok=True)


@pytest.mark.parametrize("tuning", [TUNING, 2_500.0], ids=["N*=10000", "N*=2500"])
@pytest.mark.parametrize("kind", KINDS)
def test_sequential_relative_ci_inverts_the_sequential_ratio_test(
    data: Data, kind: str, tuning: float
) -> None:
    m_c, m_t, v_c, v_t, n_c, n_t = ref_moments(data, kind)
    k = ref_multiplier(n_c + n_t, tuning=tuning)
    expected = clipped(ref_fieller(m_c, m_t, v_c / n_c, v_t / n_t, k))
    got = compare(data, kind, tuning=tuning).rel_ci_sequential
    assert got == pytest.approx(expected, rel=1e-9, nan_ok=True)


@pytest.mark.parametrize("kind", KINDS)
def test_relative_ci_tends_to_the_delta_method(kind: str) -> None:
    # 100,000 users per arm: Fieller's asymmetry is q * se(m_c)/m_c ~ 2%.
    d = make_data("large")
    m_c, m_t, v_c, v_t, n_c, n_t = ref_moments(d, kind)
    var = v_t / (n_t * m_c**2) + v_c * m_t**2 / (n_c * m_c**4)
    half = ref_quantile(d, kind) * math.sqrt(var)
    rel = (m_t - m_c) / m_c
    low, high = compare(d, kind).rel_ci
    assert low == pytest.approx(rel - half, abs=0.03 * half)
    assert high == pytest.approx(rel + half, abs=0.03 * half)
    assert high - rel > rel - low  # Fieller leans towards larger ratios


def test_relative_lift_has_the_right_sign_for_negative_means() -> None:
    # Net revenue after refunds: -2 per user in control, -1 in treatment is
    # an improvement of 50% of the control's magnitude.
    control, treatment = Summary(400, -2.0, 9.0), Summary(400, -1.0, 9.0)
    r = stats.welch_test(control, treatment)
    assert r.abs_lift == 1.0 and r.rel_lift == 0.5
    assert 0.0 < r.rel_ci[0] < 0.5 < r.rel_ci[1]
    q = float(sps.t.ppf(0.975, stats.welch_df(control, treatment)))
    assert r.rel_ci == pytest.approx(ref_fieller(-2.0, -1.0, 9 / 400, 9 / 400, q))
    # A worse treatment (-3) is a negative lift with its interval below 0.
    worse = stats.welch_test(control, Summary(400, -3.0, 9.0))
    assert worse.rel_lift == -0.5 and worse.rel_ci[1] < 0.0


def test_relative_ci_is_nan_when_the_control_mean_is_not_clear_of_zero() -> None:
    # |m_c| / se_c = 0.1 / (10 / sqrt(30)) < z: every ratio is plausible.
    r = stats.welch_test(Summary(30, 0.1, 100.0), Summary(30, 3.0, 100.0))
    assert math.isnan(r.rel_ci[0]) and math.isnan(r.rel_ci[1])
    q = float(
        sps.t.ppf(
            0.975, stats.welch_df(Summary(30, 0.1, 100.0), Summary(30, 3.0, 100.0))
        )
    )
    assert math.isnan(ref_fieller(0.1, 3.0, 100 / 30, 100 / 30, q)[0])
    assert r.rel_lift == pytest.approx(29.0) and not math.isnan(r.abs_ci[0])


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


# --- sequential statistics of the absolute difference ----------------------------


@pytest.mark.parametrize("tuning", [TUNING, 2_500.0], ids=["N*=10000", "N*=2500"])
@pytest.mark.parametrize("kind", KINDS)
def test_sequential_numbers_match_gbstats(data: Data, kind: str, tuning: float) -> None:
    p_value, ci = gbstats_sequential(data, kind, tuning)
    r = compare(data, kind, tuning=tuning)
    assert r.p_value_sequential == pytest.approx(p_value, rel=1e-9, abs=1e-12)
    assert r.abs_ci_sequential == pytest.approx(ci, rel=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_numbers_use_the_absolute_difference(data: Data, kind: str) -> None:
    m_c, m_t, v_c, v_t, n_c, n_t = ref_moments(data, kind)
    n, var = n_c + n_t, v_c / n_c + v_t / n_t
    rho2 = (-2 * np.log(0.05) + np.log(-2 * np.log(0.05) + 1)) / TUNING
    e_value = np.exp(rho2 * n * (m_t - m_c) ** 2 / (2 * var * (n * rho2 + 1)))
    e_value /= np.sqrt(n * rho2 + 1)
    half = ref_multiplier(n) * math.sqrt(var)
    r = compare(data, kind)
    assert r.p_value_sequential == pytest.approx(min(1.0, 1 / e_value), rel=1e-9)
    assert r.abs_ci_sequential == pytest.approx((m_t - m_c - half, m_t - m_c + half))


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_interval_is_wider_than_fixed(data: Data, kind: str) -> None:
    r = compare(data, kind)
    for fixed, seq in (
        (r.abs_ci, r.abs_ci_sequential),
        (r.rel_ci, r.rel_ci_sequential),
    ):
        if math.isnan(seq[0]):  # unbounded (the small set): wider still
            continue
        assert seq[0] <= fixed[0] < fixed[1] < seq[1]


# --- families ---------------------------------------------------------------------

FAMILY_CASES = {
    "spread": [0.01, 0.04, 0.03, 0.005],
    "ties": [0.02, 0.02, 0.02, 0.5],
    "capped": [0.3, 0.6, 0.9],
    "single": [0.04],
    "zeros": [0.0, 0.0, 0.2],
    "many": list(np.random.default_rng(3).uniform(0, 0.2, 25)),
}


@pytest.mark.parametrize("p", FAMILY_CASES.values(), ids=FAMILY_CASES.keys())
def test_holm_matches_statsmodels(p: list[float]) -> None:
    ref = multipletests(p, method="holm")[1]
    assert stats.holm(p) == pytest.approx(list(ref), abs=1e-12)


@pytest.mark.parametrize("p", FAMILY_CASES.values(), ids=FAMILY_CASES.keys())
def test_benjamini_hochberg_matches_statsmodels(p: list[float]) -> None:
    ref = multipletests(p, method="fdr_bh")[1]
    assert stats.benjamini_hochberg(p) == pytest.approx(list(ref), abs=1e-12)


@pytest.mark.parametrize(
    ("method", "expected"),
    [("holm", [0.02, 0.04]), ("bh", [0.02, 0.04])],
)
def test_adjustments_keep_nan_out_of_the_family(
    method: str, expected: list[float]
) -> None:
    adjusted = stats.adjust([0.01, math.nan, 0.04], method)
    assert math.isnan(adjusted[1])
    assert [adjusted[0], adjusted[2]] == pytest.approx(expected, abs=1e-12)


def test_adjust_dispatches_and_rejects_unknown_methods() -> None:
    p = FAMILY_CASES["many"]
    assert stats.adjust(p, "holm") == stats.holm(p)
    assert stats.adjust(p, "bh") == stats.benjamini_hochberg(p)
    with pytest.raises(ValueError, match="method"):
        stats.adjust(p, "bonferroni")


# --- sample size ---------------------------------------------------------------

CONTROLS = {
    "conversion": Summary.of_counts(100, 1_000),
    "value": Summary(n=1_000, mean=2.0, var=9.0),
}


def per_user_variance(control: Summary, kind: str, mde: float) -> float:
    m_c = control.mean
    m_t = m_c * (1 + mde)
    if kind == "conversion":
        return m_c * (1 - m_c) + m_t * (1 - m_t)
    return control.var * (1 + (1 + mde) ** 2)  # the same coefficient of variation


def ref_detects(control: Summary, kind: str, mde: float, n: int, level: float) -> bool:
    var = per_user_variance(control, kind, mde) / n
    z_power = float(sps.norm.ppf(0.8))
    reach = ref_multiplier(2 * n, level) * math.sqrt(var) + z_power * math.sqrt(var)
    return bool(abs(control.mean * mde) >= reach)


@pytest.mark.parametrize("kind", KINDS)
def test_users_needed_grows_as_effect_shrinks(kind: str) -> None:
    needed = [stats.users_needed(CONTROLS[kind], kind, mde=e) for e in (0.2, 0.1, 0.05)]
    assert needed[0] is not None and needed[1] is not None and needed[2] is not None
    assert needed[0] < needed[1] < needed[2]


@pytest.mark.parametrize("family", [1, 4], ids=["family=1", "family=4"])
@pytest.mark.parametrize("mde", [0.3, 0.05, -0.05], ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_sequential_users_needed_is_smallest_n_meeting_the_criterion(
    kind: str, mde: float, family: int
) -> None:
    control = CONTROLS[kind]
    n = stats.users_needed(control, kind, mde=mde, family=family)
    assert n is not None and n > 2
    assert ref_detects(control, kind, mde, n, 0.05 / family)
    assert not ref_detects(control, kind, mde, n - 1, 0.05 / family)


@pytest.mark.parametrize("family", [1, 3], ids=["family=1", "family=3"])
@pytest.mark.parametrize("mde", [0.3, 0.05, -0.1], ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_fixed_users_needed_matches_statsmodels(
    kind: str, mde: float, family: int
) -> None:
    control = CONTROLS[kind]
    sigma = math.sqrt(per_user_variance(control, kind, mde) / 2)
    ref = NormalIndPower().solve_power(
        effect_size=abs(control.mean * mde) / sigma,
        alpha=0.05 / family,
        power=0.8,
        ratio=1.0,
    )
    n = stats.users_needed(control, kind, mde=mde, family=family, mode="fixed")
    # statsmodels solves numerically (and counts the far tail's power): the
    # same size up to rounding the continuous solution up.
    assert n is not None
    assert math.ceil(ref * (1 - 1e-5)) <= n <= math.ceil(ref * (1 + 1e-5))


@pytest.mark.parametrize("mode", ["sequential", "fixed"])
@pytest.mark.parametrize("kind", KINDS)
def test_users_needed_grows_with_the_family(kind: str, mode: str) -> None:
    needed = [
        stats.users_needed(CONTROLS[kind], kind, mde=0.1, family=f, mode=mode)
        for f in (1, 2, 4, 8)
    ]
    assert all(n is not None for n in needed)
    assert needed == sorted(needed) and len(set(needed)) == 4  # type: ignore[type-var]


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_users_needed_exceeds_fixed(kind: str) -> None:
    fixed = stats.users_needed(CONTROLS[kind], kind, mde=0.1, mode="fixed")
    sequential = stats.users_needed(CONTROLS[kind], kind, mde=0.1)
    assert fixed is not None and sequential is not None and sequential > fixed


@pytest.mark.parametrize("mode", ["sequential", "fixed"])
@pytest.mark.parametrize(
    ("control", "kind", "mde"),
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
    control: Summary, kind: str, mde: float, mode: str
) -> None:
    assert stats.users_needed(control, kind, mde=mde, mode=mode) is None


@pytest.mark.parametrize("mode", ["sequential", "fixed"])
def test_users_needed_is_capped(mode: str) -> None:
    n = stats.users_needed(CONTROLS["conversion"], "conversion", mde=1e-7, mode=mode)
    assert n == stats.MAX_USERS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "revenue"}, "kind"),
        ({"mode": "bayesian"}, "mode"),
        ({"family": 0}, "family"),
    ],
    ids=["kind", "mode", "family"],
)
def test_users_needed_rejects_bad_arguments(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"kind": "value", "mde": 0.05, **kwargs}
    with pytest.raises(ValueError, match=message):
        stats.users_needed(CONTROLS["value"], **args)  # type: ignore[arg-type]


# --- output shape ---------------------------------------------------------------


def test_to_dict_is_strict_json_with_list_intervals(data: Data) -> None:
    out = compare(data, "value").to_dict()
    assert list(out) == [f.name for f in fields(Comparison)]
    assert out["state"] == "ok"
    assert all(isinstance(out[k], list) for k in out if "_ci" in k)
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("kind", KINDS)
def test_results_are_python_floats(data: Data, kind: str) -> None:
    r = compare(data, kind)
    for f in fields(r):
        if f.name == "state":
            continue
        value = getattr(r, f.name)
        parts = value if isinstance(value, tuple) else (value,)
        assert all(type(x) is float for x in parts), f.name


def test_inference_loads_no_numpy_scipy_or_io_library() -> None:
    code = (
        "import sys, abflask.core.stats.inference; "
        "print(sorted({'flask', 'redis', 'pandas', 'numpy', 'scipy', 'statsmodels',"
        " 'gbstats'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
