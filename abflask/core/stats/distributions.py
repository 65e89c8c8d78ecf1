"""The distribution functions the statistics need, in pure Python.

Pure: stdlib only (``math``, ``statistics``), so every program computes the
same numbers: the analysis job, and the service answering live results (which
never loads scipy). Each function equals its scipy.special counterpart to
1e-12, relative, wherever the value is above 1e-300
(tests/core/stats/test_distributions.py checks grids against scipy):

| here | scipy.special |
|---|---|
| ``normal_cdf(x)`` | ``ndtr`` |
| ``normal_quantile(p)`` | ``ndtri`` |
| ``t_cdf(df, t)`` | ``stdtr`` |
| ``t_quantile(df, p)`` | ``stdtrit`` |
| ``chi2_sf(k, x)`` | ``chdtrc`` |

``math.lgamma`` stands in for ``gammaln``. Degrees of freedom may be
``math.inf`` (the normal distribution).

The t tail is the incomplete beta function I_x(df/2, 1/2),
x = df / (df + t^2). With at least ``_TEMME_DF`` degrees of freedom and
ln(1 + t^2/df) at most ``_TEMME_U`` it is Temme's uniform expansion in
incomplete gamma functions (DiDonato & Morris' BGRAT, for b = 1/2: eight
terms and one ``erfc``, however many degrees of freedom: a continued fraction
would need about sqrt(df) steps and lose digits beyond 10^6); elsewhere (few
degrees of freedom, or so far in the tail that only small df give a value
above 1e-300) the continued fraction, which converges there in at most about
30 steps; the two agree to 1e-14 at the switch. The quantile starts from
Hill's (1970) algorithm 396 and takes Halley steps on the logarithm of the
CDF, usually one. The service calls both for every comparison of a value
metric: each takes a few microseconds.

Where scipy.special is wrong these are not: ``stdtr`` for df < 1 and
t^2/df beyond 1e300, or df above about 10^15 (the normal there); ``stdtrit``
near p = 1/2 (1e-9, relative) and for quantiles beyond about 1e153.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

__all__ = ["chi2_sf", "normal_cdf", "normal_quantile", "t_cdf", "t_quantile"]

_STANDARD = NormalDist()
_EPS = 1e-16
_TINY = 1e-300
_MAX_ITER = 100_000
"""Iterations a continued fraction or a series may take: a safety bound (the
switch points below keep the t tail's continued fraction to about 30)."""
_SQRT2 = math.sqrt(2.0)
_SQRT_PI = math.sqrt(math.pi)
_LOG_MAX = math.log(1.7976931348623157e308)
_MAX_STEPS = 400
"""Steps the quantile's search may take: Halley's steps take two or three;
a bracket halved this often is narrower than a float's spacing."""

_TEMME_DF = 30.0
"""Degrees of freedom from which the t tail may use Temme's expansion."""
_TEMME_U = 0.35
"""Largest ln(1 + t^2/df) for Temme's expansion: its terms shrink like
(ln(1 + t^2/df) / 2 pi)^2k, so the eight below leave under 1e-17 here."""
_TEMME_RATIO = math.expm1(_TEMME_U)
"""The same bound on t^2/df."""
_TEMME = (
    1.0,
    -1.0 / 48.0,
    1.0 / 2560.0,
    -61.0 / 7741440.0,
    1261.0 / 7431782400.0,
    -79.0 / 20761804800.0,
    66643.0 / 761775532277760.0,
    -16820653.0 / 8227175748599808000.0,
)
"""d_k of (sinh(s/2) / (s/2))^(-1/2) = sum d_k s^2k, the kernel of I_x(a, 1/2)
in Temme's expansion (exact fractions, from the binomial series)."""
_STIRLING = (
    1.0 / 156.0,
    -691.0 / 360360.0,
    1.0 / 1188.0,
    -1.0 / 1680.0,
    1.0 / 1260.0,
    -1.0 / 360.0,
    1.0 / 12.0,
)
"""B_2k / (2k (2k - 1)) of Stirling's series, highest order first."""


def normal_cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z; accurate in both tails."""
    return 0.5 * math.erfc(-x / _SQRT2)


def normal_quantile(p: float) -> float:
    """The x with P(Z <= x) = p; -inf at 0, inf at 1, NaN outside [0, 1].

    Memoised: the statistics ask for the same few levels (1 - alpha/2, the
    power) for every comparison.
    """
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if not 0.0 < p < 1.0:
        return math.nan
    return _normal_inv(p)


@lru_cache(maxsize=256)
def _normal_inv(p: float) -> float:
    return _STANDARD.inv_cdf(p)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def _stirling(z: float) -> float:
    """lgamma(z) - ((z - 0.5) log z - z + log(2 pi) / 2), for z >= 10.

    Seven terms of Stirling's series; the first one left out is below 4e-17.
    """
    r = 1.0 / (z * z)
    series = 0.0
    for coefficient in _STIRLING:
        series = series * r + coefficient
    return series / z


def _log_beta_inverse(a: float, b: float) -> float:
    """log(Gamma(a + b) / (Gamma(a) Gamma(b))) without cancelling digits.

    For a large ``a`` (many degrees of freedom) ``lgamma(a + b) - lgamma(a)``
    subtracts two nearly equal large numbers; Stirling's series of the
    difference keeps full precision instead.
    """
    if a < 10.0:
        return math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    ratio = (a - 0.5) * math.log1p(b / a) + b * math.log(a + b) - b
    return ratio + _stirling(a + b) - _stirling(a) - math.lgamma(b)


def _beta_reg(a: float, b: float, x: float, y: float) -> float:
    """Regularised incomplete beta I_x(a, b), given x and y = 1 - x (both
    passed so that neither loses digits to a subtraction)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log1p(-y) if x > 0.5 else math.log(x)
    log_y = math.log1p(-x) if y > 0.5 else math.log(y)
    log_front = _log_beta_inverse(a, b) + a * log_x + b * log_y
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def _t_tail_temme(df: float, u: float) -> float:
    """P(T <= -|t|) = I_x(a, 1/2) / 2 by Temme's expansion, u = ln(1 + t^2/df).

    With s = -ln of the beta variable, B(a, 1/2) I_x(a, 1/2) is the integral
    over s > u of e^(-T s) s^(-1/2) (sinh(s/2) / (s/2))^(-1/2), T = a - 1/4.
    The kernel's series (``_TEMME``) integrates term by term to upper
    incomplete gamma functions Gamma(1/2 + 2k, y), y = T u, which follow from
    erfc(sqrt(y)) by the recurrence Gamma(c + 1, y) = c Gamma(c, y)
    + y^c e^-y; every term is positive or small, so nothing cancels.
    """
    a = 0.5 * df
    big_t = a - 0.25
    y = big_t * u
    z = math.sqrt(y)
    h = math.erfc(z)  # Gamma(1/2 + j, y) / (Gamma(1/2) T^j), j = 0
    q = z * math.exp(-y) / _SQRT_PI  # y^(1/2 + j) e^-y / (Gamma(1/2) T^j)
    total = h
    for k in range(1, len(_TEMME)):
        j = 2 * k - 2
        h = ((j + 0.5) * h + q) / big_t
        q *= u
        h = ((j + 1.5) * h + q) / big_t
        q *= u
        total += _TEMME[k] * h
    # Gamma(a + 1/2) / (Gamma(a) sqrt(T)) by Stirling's series, in logs: the
    # leading 0.5 - 0.5 cancels exactly, leaving about 1/(64 a^2).
    log_ratio = (
        (a - 0.5) * math.log1p(0.5 / a)
        - 0.5
        + 0.5 * math.log1p(0.75 / big_t)
        + _stirling(a + 0.5)
        - _stirling(a)
    )
    return 0.5 * math.exp(log_ratio) * total


def _log1p_ratio(df: float, t: float) -> float:
    """ln(1 + t^2/df), also where t^2 overflows."""
    ratio = t * t / df
    if ratio < math.inf:
        return math.log1p(ratio)
    return 2.0 * math.log(abs(t)) - math.log(df)


def _t_tail(df: float, t: float) -> float:
    """P(T <= -|t|) for finite df > 0 and finite t."""
    t2 = t * t
    ratio = t2 / df
    if df >= _TEMME_DF and ratio <= _TEMME_RATIO:
        return _t_tail_temme(df, math.log1p(ratio))
    if ratio > 1e300:  # I_x(a, 1/2) = x^a / (a B(a, 1/2)) (1 + O(x)), x < 1e-300
        a = 0.5 * df
        log_x = math.log(df) - 2.0 * math.log(abs(t))
        return 0.5 * math.exp(a * log_x + _log_beta_inverse(a, 0.5)) / a
    x, y = df / (df + t2), t2 / (df + t2)
    return 0.5 * _beta_reg(0.5 * df, 0.5, x, y)


def t_cdf(df: float, t: float) -> float:
    """P(T <= t) for Student's t with ``df`` > 0 degrees of freedom (inf: normal).

    NaN for NaN inputs or df <= 0. Each tail is computed directly, so small
    tail probabilities keep their relative precision.
    """
    if math.isnan(df) or math.isnan(t) or df <= 0.0:
        return math.nan
    if math.isinf(df):
        return normal_cdf(t)
    if math.isinf(t):
        return 0.0 if t < 0 else 1.0
    tail = _t_tail(df, t)
    return tail if t <= 0.0 else 1.0 - tail


def _t_log_pdf(df: float, t: float) -> float:
    log_c = _log_beta_inverse(0.5 * df, 0.5) - 0.5 * math.log(df * math.pi)
    return log_c + math.lgamma(0.5) - 0.5 * (df + 1.0) * _log1p_ratio(df, t)


def _tail_start(df: float, log_p: float) -> float:
    """ln |t| where the tail's power law, P(T <= t) ~ K |t|^-df / df, reaches
    p = e^log_p: K = df^(df/2) / B(df/2, 1/2)."""
    log_k = 0.5 * df * math.log(df) + _log_beta_inverse(0.5 * df, 0.5)
    return (log_k - math.log(df) - log_p) / df


def _hill(df: float, p: float) -> float:
    """Hill's (1970) starting value of the t quantile, for 0 < p < 1/2, df >= 1.

    Algorithm 396 (CACM 13(10), 619-620), with Lozy's expm1: exact for 1 and
    2 degrees of freedom, to a few digits elsewhere.
    """
    two = 2.0 * p  # two-sided tail probability
    if df == 1.0:
        return -1.0 / math.tan(0.5 * math.pi * two)
    if df == 2.0:
        return -math.sqrt(2.0 / (two * (2.0 - two)) - 2.0)
    a = 1.0 / (df - 0.5)
    b = 48.0 / (a * a)
    c = ((20700.0 * a / b - 98.0) * a - 16.0) * a + 96.36
    d = ((94.5 / (b + c) - 3.0) / b + 1.0) * math.sqrt(a * math.pi / 2.0) * df
    y = (d * two) ** (2.0 / df)
    if y > 0.05 + a:  # the normal deviate, corrected
        x = normal_quantile(p)
        y = x * x
        if df < 5.0:
            c += 0.3 * (df - 4.5) * (x + 0.6)
        c = (((0.05 * d * x - 5.0) * x - 7.0) * x - 2.0) * x + b + c
        y = (((((0.4 * y + 6.3) * y + 36.0) * y + 94.5) / c - y - 3.0) / b + 1.0) * x
        y = math.expm1(a * y * y)
    elif y > 0.0:  # far in the tail: the series in y
        w = (df + 6.0) / (df * y) - 0.089 * d - 0.822
        w = (1.0 / (w * (df + 2.0) * 3.0) + 0.5 / (df + 4.0)) * y - 1.0
        y = w * (df + 1.0) / (df + 2.0) + 1.0 / y
    else:
        return -math.inf
    return -math.sqrt(df * y) if y > 0.0 else math.nan


def t_quantile(df: float, p: float) -> float:
    """The t with P(T <= t) = p for Student's t with ``df`` degrees of freedom.

    Solved in the lower tail (p > 1/2 by symmetry): Halley steps on the
    logarithm of the CDF (nearly linear far out, so p = 1e-300 is no harder)
    from Hill's starting value, kept inside a bracket that bisection narrows
    whenever a step would leave it. Two or three CDF evaluations for the
    usual levels; -inf when the quantile is beyond the largest float.
    """
    if math.isnan(df) or math.isnan(p) or df <= 0.0 or not 0.0 <= p <= 1.0:
        return math.nan
    if math.isinf(df):
        return normal_quantile(p)
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p > 0.5:  # symmetry: solve in the lower tail, where precision is kept
        return -t_quantile(df, 1.0 - p)
    if p == 0.5:
        return 0.0
    log_p = math.log(p)
    t = _hill(df, p) if df >= 1.0 else math.nan
    if not -math.inf < t < 0.0:  # heavy tails, or Hill's value out of range:
        log_t = _tail_start(df, log_p)  # the power law far out
        if log_t > _LOG_MAX:
            return -math.inf  # beyond the largest float
        t = min(-math.exp(log_t), normal_quantile(p))  # the normal near 0
    low, high = -math.inf, 0.0
    for _ in range(_MAX_STEPS):
        tail = _t_tail(df, t)
        nxt = math.nan
        if tail > 0.0:
            # Newton's method on ln P(T <= t) - ln p, with Halley's correction:
            # its slope is the density over the tail, its curvature follows from
            # the density's log-derivative -(df + 1) t / (df + t^2).
            gap = math.log(tail) - log_p
            if gap == 0.0:
                return t
            if gap > 0.0:
                high = t
            else:
                low = t
            slope = math.exp(_t_log_pdf(df, t) - math.log(tail))
            step = gap / slope
            curve = -(df + 1.0) / (df / t + t) - slope
            nxt = t - step * (1.0 + 0.5 * step * curve)
            if abs(step) <= 1e-7 * abs(t):
                return nxt  # Halley's error is cubic: about 1e-21 after this step
        else:  # underflow: far beyond the quantile
            low = t
        if not low < nxt < high:  # leaving the bracket: bisect, or widen it
            if low == -math.inf:
                nxt = 2.0 * min(t, -1.0)
            elif high < -1.0:
                nxt = -math.sqrt(low * high)  # geometric: |t| may span decades
            else:
                nxt = 0.5 * (low + high)
        t = nxt
    return t


def _gamma_series(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_fraction(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) by its continued fraction."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(k: float, x: float) -> float:
    """P(X > x) for a chi-square X with ``k`` > 0 degrees of freedom."""
    if math.isnan(k) or math.isnan(x) or k <= 0.0:
        return math.nan
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a, half = 0.5 * k, 0.5 * x
    if half < a + 1.0:
        return 1.0 - _gamma_series(a, half)
    return _gamma_fraction(a, half)
