"""Experiment statistics from per-variation summaries: tests, intervals, sizes.

Pure: stdlib only, no I/O (the distributions are
``abflask.core.stats.distributions``). Fixed-horizon z and Welch tests with
Fieller relative intervals, their always-valid (sequential) counterparts on
the absolute difference, explicit degenerate states, Holm and
Benjamini-Hochberg corrections and the sample size. The confidence sequence
and the SRM tests live in ``abflask.core.stats.sequential``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from abflask.core.stats.distributions import (
    normal_cdf,
    normal_quantile,
    t_cdf,
    t_quantile,
)
from abflask.core.stats.sequential import (
    ALPHA,
    TUNING,
    sequential_halfwidth,
    sequential_multiplier,
    sequential_p_value,
)

__all__ = [
    "KINDS",
    "MAX_USERS",
    "MIN_SAMPLE",
    "STATES",
    "Comparison",
    "Summary",
    "adjust",
    "benjamini_hochberg",
    "compare",
    "holm",
    "proportion_test",
    "users_needed",
    "welch_df",
    "welch_test",
]

MIN_SAMPLE = 150
"""Participants per variation (users) a metric needs before a verdict may say
"beats" or "worse" (GrowthBook's default minimum)."""
MAX_USERS = 10**12
"""Upper bound (users per variation) on what ``users_needed`` returns."""
KINDS = ("conversion", "value")
"""Metric kinds: share of users who converted, or mean value per user."""
STATES = ("ok", "adjusted", "constant", "too_few", "empty")
"""Values of ``Comparison.state``; see ``compare``."""

_NAN = math.nan
_NAN_PAIR = (_NAN, _NAN)


@dataclass(frozen=True)
class Summary:
    """One variation's per-user metric: participants, mean and variance.

    ``var`` is the per-user variance the tests use: the sample variance
    (ddof=1) for values, the unpooled p(1 - p) for conversions. Build it
    with a constructor rather than by hand::

        Summary.of_counts(converters=120, n=1000)      # mean 0.12, var 0.1056
        Summary.of_sums(n=3, total=6.5, sum_squares=22.25)  # mean 2.1666..., ddof=1

    (The analysis job summarises arrays of per-user values with numpy in
    ``abflask.analysis.moments``, in two passes.)
    """

    n: int
    mean: float
    var: float

    @classmethod
    def of_counts(cls, converters: int, n: int) -> Summary:
        """Summarise a conversion: mean c/n, var p(1 - p); n=0 gives zeros."""
        if n <= 0:
            return cls(0, 0.0, 0.0)
        p = converters / n
        return cls(int(n), float(p), float(p * (1.0 - p)))

    @classmethod
    def of_sums(cls, n: int, total: float, sum_squares: float) -> Summary:
        """Summarise per-user values from their sums over all ``n`` users.

        ``total`` is the sum of x, ``sum_squares`` the sum of x^2, over all n
        users (a user without the event has x = 0). var is the sample
        variance (ddof=1), (sum_squares - n mean^2) / (n - 1), clipped at 0;
        0 for n <= 1. One pass: exact when the values are small integers or
        their mean is small against their spread; values like 1e9 + small
        noise lose their variance here (shift them by a typical value first).
        """
        if n <= 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        if n == 1:
            return cls(1, float(mean), 0.0)
        var = max((sum_squares - n * mean * mean) / (n - 1), 0.0)
        return cls(int(n), float(mean), float(var))


@dataclass(frozen=True)
class Comparison:
    """Treatment versus control for one metric; NaN marks an undefined number.

    ``abs_*`` describe m_t - m_c; ``rel_*`` describe (m_t - m_c) / |m_c|, the
    relative lift (+0.1: the treatment mean is higher by a tenth of the
    control mean's magnitude, also when that mean is negative). ``p_value`` and
    ``p_value_sequential`` test m_t = m_c; ``state`` is one of ``STATES``
    and says which rule of ``compare`` produced the numbers.
    """

    abs_lift: float
    abs_ci: tuple[float, float]
    rel_lift: float
    rel_ci: tuple[float, float]
    p_value: float
    p_value_sequential: float
    abs_ci_sequential: tuple[float, float]
    rel_ci_sequential: tuple[float, float]
    state: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields in order: intervals become lists, NaN None."""
        out: dict[str, Any] = {}
        for name, v in vars(self).items():
            if isinstance(v, tuple):
                out[name] = [_clean(x) for x in v]
            else:
                out[name] = v if isinstance(v, str) else _clean(v)
        return out


def _clean(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --- two-sample comparison ----------------------------------------------------


def welch_df(control: Summary, treatment: Summary) -> float:
    """Welch–Satterthwaite degrees of freedom; NaN if an arm has n < 2 or se 0."""
    return _welch_df(control.n, control.var, treatment.n, treatment.var)


def _welch_df(n_c: int, v_c: float, n_t: int, v_t: float) -> float:
    if n_c < 2 or n_t < 2:
        return _NAN
    a, b = v_t / n_t, v_c / n_c
    if a + b <= 0.0:
        return _NAN
    return float((a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1)))


def compare(
    control: Summary,
    treatment: Summary,
    kind: str,
    *,
    alpha: float = ALPHA,
    tuning: float = TUNING,
    nonnegative: bool = True,
    tests: bool = True,
) -> Comparison:
    """Treatment minus control: fixed and always-valid tests and intervals.

    ``kind`` "conversion" takes rates as arm means (``Summary.of_counts``;
    the variance used is p(1 - p) from the mean) and uses the Wald z-test
    with unpooled variance (statsmodels' ``test_proportions_2indep``
    and ``confint_proportions_2indep``, ``method="wald"``); "value" uses
    Welch's t-test (``scipy.stats.ttest_ind(t, c, equal_var=False)``) with the
    Welch–Satterthwaite df for every fixed interval. Intervals cover
    1 - ``alpha``.

    ``p_value_sequential`` and ``abs_ci_sequential`` are the always-valid
    p-value and confidence sequence of the absolute difference (variance
    v_t/n_t + v_c/n_c, n = n_c + n_t users, tuning N* = ``tuning``), as
    GrowthBook's SequentialTwoSidedTTest with difference_type="absolute".
    Relative intervals are Fieller's: the ratios r with m_t - r m_c = 0 not
    rejected (at the t/z quantile, or at the sequential multiplier), mapped
    to (m_t - m_c) / |m_c|; (NaN, NaN) when that set is unbounded (the
    control mean is not clearly away from 0). With ``nonnegative`` (metric
    values are >= 0; ignored when a mean is negative, since then they are
    not) relative lower bounds are clipped at -1 (-100%).

    ``state`` names the rule applied:
      * "empty": an arm has no users; every number is NaN.
      * "too_few": an arm has 1 user; lifts only, p-values and intervals NaN.
      * "constant": value metric, both arms with variance 0; p = 0 and point
        intervals if the means differ, p = 1 (and points at 0) if they agree.
      * "adjusted": conversion with an arm at rate 0 or 1; that arm's variance
        is the Agresti–Caffo p~(1 - p~), p~ = (x + 1)/(n + 2), so a treatment
        that wipes out conversions is detected. Both arms at 0: p = 1.
      * "ok": the tests as described.
    The relative lift is NaN when the control mean is 0.

    ``tests=False`` leaves out the tests (the t or z quantile and tail, the
    e-value), for callers that read only the lifts and the always-valid
    intervals (the time series, the guardrails' one-sided bounds):
    ``p_value``, ``p_value_sequential``, ``abs_ci`` and ``rel_ci`` are then
    NaN in states "ok" and "adjusted"; every other number is the same as
    with ``tests=True``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'conversion' or 'value', not {kind!r}")
    if control.n < 1 or treatment.n < 1:
        nan = (_NAN, _NAN_PAIR, _NAN, _NAN_PAIR, _NAN, _NAN, _NAN_PAIR, _NAN_PAIR)
        return Comparison(*nan, state="empty")
    m_c, m_t = control.mean, treatment.mean
    diff = float(m_t - m_c)
    rel = float(diff / abs(m_c)) if m_c != 0.0 else _NAN
    if control.n < 2 or treatment.n < 2:
        return Comparison(
            diff, _NAN_PAIR, rel, _NAN_PAIR, _NAN, _NAN, _NAN_PAIR, _NAN_PAIR, "too_few"
        )
    v_c, v_t, state = _variances(control, treatment, kind)
    if state == "constant":
        p = 0.0 if diff != 0.0 else 1.0
        point, rel_point = (diff, diff), (rel, rel)
        return Comparison(diff, point, rel, rel_point, p, p, point, rel_point, state)
    se2_c, se2_t = v_c / control.n, v_t / treatment.n
    var_abs = se2_c + se2_t
    n = control.n + treatment.n
    k = sequential_multiplier(n, alpha, tuning)
    clip = nonnegative and min(m_c, m_t) >= 0.0
    p_value, p_sequential, abs_ci, rel_ci = _NAN, _NAN, _NAN_PAIR, _NAN_PAIR
    if tests:
        if kind == "conversion":
            q = normal_quantile(1.0 - alpha / 2)
            p_value = 2.0 * normal_cdf(-abs(diff) / math.sqrt(var_abs))
        else:
            df = _welch_df(control.n, v_c, treatment.n, v_t)
            q = t_quantile(df, 1.0 - alpha / 2)
            p_value = 2.0 * t_cdf(df, -abs(diff) / math.sqrt(var_abs))
        abs_ci = _interval(diff, q * math.sqrt(var_abs))
        rel_ci = _fieller(m_c, m_t, se2_c, se2_t, q, clip)
        p_sequential = sequential_p_value(diff, var_abs, n, alpha, tuning)
    return Comparison(
        abs_lift=diff,
        abs_ci=abs_ci,
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=p_value,
        p_value_sequential=p_sequential,
        abs_ci_sequential=_interval(
            diff, sequential_halfwidth(var_abs, n, alpha, tuning)
        ),
        rel_ci_sequential=_fieller(m_c, m_t, se2_c, se2_t, k, clip),
        state=state,
    )


def proportion_test(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = ALPHA,
    tuning: float = TUNING,
    nonnegative: bool = True,
) -> Comparison:
    """``compare(control, treatment, "conversion", ...)``: the Wald z-test."""
    return compare(
        control,
        treatment,
        "conversion",
        alpha=alpha,
        tuning=tuning,
        nonnegative=nonnegative,
    )


def welch_test(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = ALPHA,
    tuning: float = TUNING,
    nonnegative: bool = True,
) -> Comparison:
    """``compare(control, treatment, "value", ...)``: Welch's t-test."""
    return compare(
        control, treatment, "value", alpha=alpha, tuning=tuning, nonnegative=nonnegative
    )


def _variances(
    control: Summary, treatment: Summary, kind: str
) -> tuple[float, float, str]:
    """Per-user variances the tests use, and the state (both arms have n >= 2)."""
    if kind == "value":
        if control.var <= 0.0 and treatment.var <= 0.0:
            return 0.0, 0.0, "constant"
        return max(control.var, 0.0), max(treatment.var, 0.0), "ok"
    v_c, adj_c = _rate_variance(control)
    v_t, adj_t = _rate_variance(treatment)
    return v_c, v_t, "adjusted" if adj_c or adj_t else "ok"


def _rate_variance(arm: Summary) -> tuple[float, bool]:
    """p(1 - p), or Agresti–Caffo's (n + 1)/(n + 2)^2 when p is 0 or 1."""
    if 0.0 < arm.mean < 1.0:
        return arm.mean * (1.0 - arm.mean), False
    # p~ = (x + 1)/(n + 2) with x = 0 or n: p~(1 - p~) is the same for both.
    return (arm.n + 1) / (arm.n + 2) ** 2, True


def _fieller(
    m_c: float, m_t: float, se2_c: float, se2_t: float, q: float, clip: bool
) -> tuple[float, float]:
    """Fieller interval of (m_t - m_c)/|m_c| for independent arm means.

    The ratios r with (m_t - r m_c)^2 <= q^2 (se2_t + r^2 se2_c) form
    [(b - sqrt(d))/a, (b + sqrt(d))/a] with a = m_c^2 - q^2 se2_c,
    b = m_t m_c, d = b^2 - a (m_t^2 - q^2 se2_t) = q^2 (a se2_t + m_t^2 se2_c),
    when a > 0; otherwise the set is unbounded and the answer (NaN, NaN).
    The lift is r - 1 for m_c > 0 and 1 - r for m_c < 0.
    """
    a = m_c * m_c - q * q * se2_c
    if not a > 0.0:
        return _NAN_PAIR
    root = q * math.sqrt(a * se2_t + m_t * m_t * se2_c)
    low, high = (m_t * m_c - root) / a, (m_t * m_c + root) / a
    low, high = (low - 1.0, high - 1.0) if m_c > 0.0 else (1.0 - high, 1.0 - low)
    if clip:
        low = max(low, -1.0)
    return (float(low), float(high))


def _interval(center: float, halfwidth: float) -> tuple[float, float]:
    if math.isnan(center) or math.isnan(halfwidth):
        return _NAN_PAIR
    return (float(center - halfwidth), float(center + halfwidth))


# --- families -------------------------------------------------------------------


def _order(p_values: Sequence[float]) -> list[int]:
    """Indexes of the non-NaN p-values, smallest first (ties in input order)."""
    valid = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    return sorted(valid, key=lambda i: p_values[i])


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in input order.

    NaN entries stay NaN and do not count towards the family size. Matches
    ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]``.
    """
    out = [_NAN] * len(p_values)
    order = _order(p_values)
    m = len(order)
    running = -math.inf
    for rank, i in enumerate(order):
        running = max(running, float(p_values[i]) * (m - rank))
        out[i] = min(running, 1.0)
    return out


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg step-up adjusted p-values (FDR), in input order.

    The i-th smallest of m p-values becomes min over j >= i of p_(j) m / j,
    capped at 1. NaN entries stay NaN and do not count towards m. Matches
    ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]``.
    """
    out = [_NAN] * len(p_values)
    order = _order(p_values)
    m = len(order)
    running = math.inf
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, float(p_values[i]) * m / (rank + 1))
        out[i] = min(running, 1.0)
    return out


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values by ``method``: "holm" (FWER) or "bh" (FDR)."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise ValueError(f"method must be 'holm' or 'bh', not {method!r}")


# --- sample size ----------------------------------------------------------------


def users_needed(
    control: Summary,
    kind: str,
    *,
    mde: float,
    alpha: float = ALPHA,
    power: float = 0.8,
    tuning: float = TUNING,
    family: int = 1,
    mode: str = "sequential",
) -> int | None:
    """Users per variation for the test actually used to detect ``mde``.

    Assumes two equal arms, a treatment mean m_c (1 + mde) and the absolute
    difference theta = |m_c mde|, tested at level alpha / ``family``
    (Bonferroni: Holm's first step over a family of that many tests).
    ``kind`` "conversion" takes each arm's variance as p(1 - p); "value"
    keeps the control's coefficient of variation, so the treatment's variance
    is the control's times (1 + mde)^2 (an effect that scales every amount, as
    revenue effects do; assuming equal variances would promise too much
    power). With S = per-user variance of
    both arms summed, ``mode`` "fixed" gives the fixed-horizon normal size
    ceil((z_{1-alpha'/2} + z_power)^2 S / theta^2); "sequential" the smallest
    n with theta >= sequential half-width + z_power * se at 2n users
    (se^2 = S / n). At least 2, at most ``MAX_USERS``; None when m_c, the
    variance or theta is 0, or the treatment rate leaves [0, 1].
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'conversion' or 'value', not {kind!r}")
    if mode not in ("sequential", "fixed"):
        raise ValueError(f"mode must be 'sequential' or 'fixed', not {mode!r}")
    if family < 1:
        raise ValueError("family must be at least 1")
    m_c = control.mean
    theta = abs(m_c * mde)
    if m_c == 0.0 or not theta > 0.0 or not math.isfinite(theta):
        return None
    if kind == "conversion":
        m_t = m_c * (1.0 + mde)
        if not 0.0 <= m_t <= 1.0:
            return None
        per_user = m_c * (1.0 - m_c) + m_t * (1.0 - m_t)
    else:
        per_user = control.var * (1.0 + (1.0 + mde) ** 2)
    if not per_user > 0.0:
        return None
    level = alpha / family
    z_power = normal_quantile(power)
    if mode == "fixed":
        z = normal_quantile(1.0 - level / 2) + z_power
        return int(min(max(math.ceil(z * z * per_user / theta**2), 2), MAX_USERS))

    def detects(n: int) -> bool:
        variance = per_user / n
        reach = sequential_halfwidth(variance, 2 * n, level, tuning)
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
