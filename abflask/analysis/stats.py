"""Experiment statistics from per-variation summaries: tests, intervals, SRM.

Pure: numpy and scipy only, no I/O. Fixed-horizon z and Welch tests with
delta-method relative lifts, always-valid (sequential) intervals and p-values,
Holm's correction, the SRM chi-square and a sequential sample-size estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "ALPHA",
    "MAX_USERS",
    "SRM_THRESHOLD",
    "TUNING",
    "Comparison",
    "Summary",
    "holm",
    "proportion_test",
    "sequential_halfwidth",
    "sequential_p_value",
    "srm_p_value",
    "users_needed",
    "welch_df",
    "welch_test",
]

ALPHA = 0.05
"""Two-sided significance level (probability); intervals cover 1 - ALPHA."""
TUNING = 5000.0
"""Sequential tuning parameter N* (users, both arms together): GrowthBook's
default; the confidence sequence is tightest near this total sample size."""
SRM_THRESHOLD = 0.001
"""SRM p-value (probability) below which a sample ratio mismatch is flagged."""
MAX_USERS = 10**12
"""Upper bound (users per variation) on what ``users_needed`` returns."""

_NAN = math.nan
_NAN_PAIR = (_NAN, _NAN)


@dataclass(frozen=True)
class Summary:
    """One variation's per-user metric: participants, mean and variance.

    ``var`` is the per-user variance the tests use: the sample variance
    (ddof=1) for values, the unpooled p(1 - p) for conversions. Build it
    with a constructor rather than by hand::

        Summary.of_counts(converters=120, n=1000)     # mean 0.12, var 0.1056
        Summary.of_values(np.array([0.0, 2.5, 4.0]))  # mean 2.1666..., ddof=1
        Summary.from_sums(n=3, total=6.5, total_sq=22.25)  # same as above
    """

    n: int
    mean: float
    var: float

    @classmethod
    def of_values(cls, x: npt.ArrayLike) -> Summary:
        """Summarise per-user values; var is 0 when there are fewer than 2."""
        arr = np.asarray(x, dtype=np.float64).ravel()
        n = int(arr.size)
        if n == 0:
            return cls(0, 0.0, 0.0)
        var = float(arr.var(ddof=1)) if n > 1 else 0.0
        return cls(n, float(arr.mean()), var)

    @classmethod
    def of_counts(cls, converters: int, n: int) -> Summary:
        """Summarise a conversion: mean c/n, var p(1 - p); n=0 gives zeros."""
        if n <= 0:
            return cls(0, 0.0, 0.0)
        p = converters / n
        return cls(int(n), float(p), float(p * (1.0 - p)))

    @classmethod
    def from_sums(cls, n: int, total: float, total_sq: float) -> Summary:
        """Summarise values from their count, sum and sum of squares.

        Users without events add nothing to either sum, so callers need not
        materialise their zeros. The ddof=1 variance is clamped at 0, since
        ``total_sq - n * mean**2`` can round below 0 for near-constant values.
        """
        if n <= 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        var = max((total_sq - n * mean * mean) / (n - 1), 0.0) if n > 1 else 0.0
        return cls(int(n), float(mean), float(var))


@dataclass(frozen=True)
class Comparison:
    """Treatment versus control for one metric; NaN marks an undefined number.

    ``abs_*`` describe m_t - m_c, ``rel_*`` describe m_t / m_c - 1. The
    sequential p-value tests the relative lift, like the relative sequence.
    """

    abs_lift: float
    abs_ci: tuple[float, float]
    rel_lift: float
    rel_ci: tuple[float, float]
    p_value: float
    p_value_sequential: float
    abs_ci_sequential: tuple[float, float]
    rel_ci_sequential: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields: intervals become lists, NaN becomes None."""
        return {
            name: [_clean(x) for x in v] if isinstance(v, tuple) else _clean(v)
            for name, v in vars(self).items()
        }


def _clean(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --- fixed-horizon tests ----------------------------------------------------
#
# Degenerate inputs follow one rule, so nothing raises or warns:
#   * an estimate needs its means: NaN if an arm has n == 0, and the relative
#     lift is NaN when the control mean is 0;
#   * an interval needs a positive standard error: (NaN, NaN) when an arm has
#     n < 2 or both arms have zero variance (see the note on Var(R) below);
#   * a p-value is NaN exactly when its estimate is NaN; when the estimate
#     exists but the standard error does not, it is 1.0 (no evidence either
#     way), so it still counts in a Holm family.


def welch_df(control: Summary, treatment: Summary) -> float:
    """Welch–Satterthwaite degrees of freedom; NaN if an arm has n < 2 or se 0."""
    if control.n < 2 or treatment.n < 2:
        return _NAN
    a, b = treatment.var / treatment.n, control.var / control.n
    if a + b <= 0.0:
        return _NAN
    return float((a + b) ** 2 / (a * a / (treatment.n - 1) + b * b / (control.n - 1)))


def proportion_test(
    control: Summary,
    treatment: Summary,
    alpha: float = ALPHA,
    tuning: float = TUNING,
) -> Comparison:
    """Two-proportion Wald z-test with unpooled variance (treatment - control).

    Same p-value and interval as statsmodels' ``test_proportions_2indep`` and
    ``confint_proportions_2indep`` with ``method="wald"``; the relative
    interval uses the normal quantile too. Pass ``Summary.of_counts`` values.
    """
    return _compare(control, treatment, alpha, tuning, math.inf)


def welch_test(
    control: Summary,
    treatment: Summary,
    alpha: float = ALPHA,
    tuning: float = TUNING,
) -> Comparison:
    """Welch's unequal-variance t-test on the means (treatment - control).

    Same p-value as ``scipy.stats.ttest_ind(t, c, equal_var=False)``. Both
    the absolute and the delta-method relative interval use the t quantile
    with the Welch–Satterthwaite df of the absolute difference; the
    sequential results are asymptotic and do not depend on df.
    """
    return _compare(control, treatment, alpha, tuning, welch_df(control, treatment))


def _compare(
    control: Summary, treatment: Summary, alpha: float, tuning: float, df: float
) -> Comparison:
    """Both tests: ``df`` is inf for the z-test, Welch df (maybe NaN) otherwise."""
    if control.n < 1 or treatment.n < 1:
        return Comparison(
            _NAN, _NAN_PAIR, _NAN, _NAN_PAIR, _NAN, _NAN, _NAN_PAIR, _NAN_PAIR
        )
    n = control.n + treatment.n
    diff = treatment.mean - control.mean
    rel, var_rel = _relative(control, treatment)
    var_abs = treatment.var / treatment.n + control.var / control.n
    # Var(R) alone can be 0 (treatment mean and variance both 0, control
    # variance positive): the delta method then says nothing, and nor do we.
    enough = control.n >= 2 and treatment.n >= 2
    var_abs = var_abs if enough and var_abs > 0.0 else _NAN
    var_rel = var_rel if enough and var_rel > 0.0 else _NAN
    q, p_value = _quantile_and_p(diff, var_abs, alpha, df)
    return Comparison(
        abs_lift=float(diff),
        abs_ci=_interval(diff, q * math.sqrt(var_abs)),
        rel_lift=rel,
        rel_ci=_interval(rel, q * math.sqrt(var_rel)),
        p_value=p_value,
        p_value_sequential=sequential_p_value(rel, var_rel, n, alpha, tuning),
        abs_ci_sequential=_interval(
            diff, sequential_halfwidth(var_abs, n, alpha, tuning)
        ),
        rel_ci_sequential=_interval(
            rel, sequential_halfwidth(var_rel, n, alpha, tuning)
        ),
    )


def _quantile_and_p(
    estimate: float, variance: float, alpha: float, df: float
) -> tuple[float, float]:
    """Critical value for 1 - alpha/2 and the two-sided p-value of estimate=0."""
    if not variance > 0.0 or math.isnan(df):
        return _NAN, 1.0
    stat = -abs(estimate) / math.sqrt(variance)
    # scipy.special ufuncs, not scipy.stats objects: the time series calls
    # this for every point, and the frozen distributions cost ~50x more.
    if math.isinf(df):
        return float(special.ndtri(1.0 - alpha / 2)), float(2.0 * special.ndtr(stat))
    q = float(special.stdtrit(df, 1.0 - alpha / 2))
    return q, float(2.0 * special.stdtr(df, stat))


def _relative(control: Summary, treatment: Summary) -> tuple[float, float]:
    """R = m_t/m_c - 1 and its delta-method variance; NaN when m_c == 0.

    Var(R) = v_t / (n_t m_c^2) + v_c m_t^2 / (n_c m_c^4).
    """
    m_c, m_t = control.mean, treatment.mean
    if m_c == 0.0:
        return _NAN, _NAN
    m_c2 = m_c * m_c
    var = treatment.var / (treatment.n * m_c2) + control.var * m_t * m_t / (
        control.n * m_c2 * m_c2
    )
    return float(m_t / m_c - 1.0), float(var)


def _interval(center: float, halfwidth: float) -> tuple[float, float]:
    if math.isnan(center) or math.isnan(halfwidth):
        return _NAN_PAIR
    return (float(center - halfwidth), float(center + halfwidth))


# --- sequential (always-valid) inference ------------------------------------
#
# The asymptotic confidence sequence of Waudby-Smith et al. 2023 (eq. 9, rho
# from eq. 161, p-value as 1/e-value from eq. 155 of arXiv:2103.06476v7), as
# GrowthBook's SequentialTwoSidedTTest uses it; n counts both arms.


def _rho_squared(alpha: float, tuning: float) -> float:
    log_alpha = math.log(alpha)
    return (-2.0 * log_alpha + math.log(-2.0 * log_alpha + 1.0)) / tuning


def sequential_halfwidth(
    variance: float, n: int, alpha: float = ALPHA, tuning: float = TUNING
) -> float:
    """Half-width of the always-valid 1 - alpha confidence sequence.

    ``variance`` is the estimator's variance (se squared) and ``n`` the users
    behind it. With s2 = variance * n the half-width is
    sqrt(s2 * 2(n rho^2 + 1) ln(sqrt(n rho^2 + 1) / alpha) / (n^2 rho^2)).
    NaN unless variance > 0 and n >= 1.
    """
    if not variance > 0.0 or n < 1 or math.isinf(variance):
        return _NAN
    rho2 = _rho_squared(alpha, tuning)
    u = n * rho2 + 1.0
    s2 = variance * n
    return math.sqrt(s2 * 2.0 * u * math.log(math.sqrt(u) / alpha) / (n * n * rho2))


def sequential_p_value(
    estimate: float,
    variance: float,
    n: int,
    alpha: float = ALPHA,
    tuning: float = TUNING,
) -> float:
    """Always-valid two-sided p-value of estimate = 0: min(1, 1/E).

    E = exp(rho^2 n estimate^2 / (2 variance (n rho^2 + 1))) / sqrt(n rho^2 + 1),
    so p < alpha exactly when 0 is outside estimate ± ``sequential_halfwidth``.
    ``alpha`` only sets rho (the mixing width), not a decision. NaN when the
    estimate is NaN or n < 1; 1.0 when the variance is not positive.
    """
    if math.isnan(estimate) or n < 1:
        return _NAN
    if not variance > 0.0 or math.isinf(variance):
        return 1.0
    rho2 = _rho_squared(alpha, tuning)
    u = n * rho2 + 1.0
    # In logs: exp() of the e-value overflows for strong effects at large n.
    log_e = rho2 * n * estimate * estimate / (2.0 * variance * u) - 0.5 * math.log(u)
    return 1.0 if log_e <= 0.0 else math.exp(-log_e)


# --- families, SRM, sample size ----------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in input order.

    NaN entries stay NaN and do not count towards the family size. Matches
    ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = order.size
    if m:
        stepped = p[order] * np.arange(m, 0, -1)
        out[order] = np.minimum(np.maximum.accumulate(stepped), 1.0)
    return [float(x) for x in out]


def srm_p_value(observed: Sequence[int], weights: Sequence[float]) -> float:
    """Chi-square goodness-of-fit p-value of participant counts vs. weights.

    Weights are normalised to sum 1, so the expected counts are the observed
    total times each share: ``scipy.stats.chisquare(observed, expected)``.
    A zero total (or fewer than two variations) gives 1.0. A variation with
    weight 0 is dropped if it has no participants and gives 0.0 if it has any.
    """
    obs = np.asarray(observed, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if obs.shape != w.shape or obs.ndim != 1:
        raise ValueError("observed and weights must be equal-length sequences")
    if np.any(w < 0) or not w.sum() > 0:
        raise ValueError("weights must be non-negative with a positive sum")
    total = float(obs.sum())
    if total <= 0.0:
        return 1.0
    expected = total * w / w.sum()
    empty = expected == 0.0
    if np.any(obs[empty] > 0):
        return 0.0
    obs, expected = obs[~empty], expected[~empty]
    if obs.size < 2:
        return 1.0
    stat = float(np.sum((obs - expected) ** 2 / expected))
    return float(special.chdtrc(obs.size - 1, stat))


def users_needed(
    control: Summary,
    kind: str,
    rel_effect: float = 0.05,
    alpha: float = ALPHA,
    power: float = 0.8,
    tuning: float = TUNING,
) -> int | None:
    """Users per variation for the sequential test to detect ``rel_effect``.

    Assumes two equal arms, a treatment mean m_c (1 + rel_effect) and the
    absolute difference theta = m_c rel_effect. ``kind`` "conversion" takes
    each arm's variance as p(1 - p); "value" gives both arms the control's
    variance. Returns the smallest n >= 2 with |theta| >= sequential
    half-width + z_power * se at 2n users, capped at ``MAX_USERS``; None when
    m_c, the variance or theta is 0, or the treatment rate leaves [0, 1].
    """
    if kind not in ("conversion", "value"):
        raise ValueError(f"kind must be 'conversion' or 'value', not {kind!r}")
    m_c = control.mean
    theta = abs(m_c * rel_effect)
    if m_c == 0.0 or not theta > 0.0 or not math.isfinite(theta):
        return None
    if kind == "conversion":
        m_t = m_c * (1.0 + rel_effect)
        if not 0.0 <= m_t <= 1.0:
            return None
        per_user = m_c * (1.0 - m_c) + m_t * (1.0 - m_t)
    else:
        per_user = 2.0 * control.var
    if not per_user > 0.0:
        return None
    z_power = float(special.ndtri(power))

    def detects(n: int) -> bool:
        variance = per_user / n
        reach = sequential_halfwidth(variance, 2 * n, alpha, tuning)
        return theta >= reach + z_power * math.sqrt(variance)

    return _smallest(detects, 2, MAX_USERS)


def _smallest(ok: Callable[[int], bool], lo: int, cap: int) -> int:
    """Smallest n in [lo, cap] with ok(n) for a monotone ok; cap if none."""
    if ok(lo):
        return lo
    bad, good = lo, lo * 2  # invariant: ok(bad) is False
    while not ok(good):
        if good >= cap:
            return cap
        bad, good = good, min(good * 2, cap)
    while good - bad > 1:
        mid = (bad + good) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good
