"""Always-valid (sequential) inference: the confidence sequence and the SRM tests.

Pure: stdlib only, no I/O. Owns the defaults every test shares (the
level and the tuning N*), the asymptotic confidence sequence of Waudby-Smith
et al. with its p-value, and the sample-ratio-mismatch tests: the chi-square
and the sequential Dirichlet-multinomial test of Lindon & Malek.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from abflask.core.stats.distributions import chi2_sf

__all__ = [
    "ALPHA",
    "SRM_CONCENTRATION",
    "SRM_THRESHOLD",
    "TUNING",
    "sequential_halfwidth",
    "sequential_multiplier",
    "sequential_p_value",
    "srm_p_value",
    "srm_sequential_p_value",
]

ALPHA = 0.05
"""Two-sided significance level (probability); intervals cover 1 - ALPHA."""
TUNING = 10_000.0
"""Sequential tuning parameter N* (users, all arms of a comparison together):
the confidence sequence is tightest near this total sample size."""
SRM_THRESHOLD = 0.001
"""SRM p-value (probability) below which a sample ratio mismatch is flagged."""
SRM_CONCENTRATION = 10_000.0
"""Prior concentration (pseudo-users) of the sequential SRM test: the
Dirichlet prior is centred on the weights with this total; the default of
Optimizely's ssrm-test, the reference implementation of Lindon & Malek."""


# --- the confidence sequence ------------------------------------------------
#
# The asymptotic confidence sequence of Waudby-Smith et al. 2023 (eq. 9, rho
# from eq. 161, p-value as 1/e-value from eq. 155 of arXiv:2103.06476v7), as
# GrowthBook's SequentialTwoSidedTTest uses it; n counts both arms.
#
# Both pure functions below are memoised: a result calls the multiplier a few
# hundred times with a handful of levels and the same n again and again (each
# comparison's n, and the sample-size search's doubling steps, which every
# metric repeats). A cached value is the very float computed the first time.

MULTIPLIER_CACHE = 4096
"""Most (n, alpha, tuning) multipliers kept (per process; a few requests' worth)."""


@lru_cache(maxsize=64)
def _rho_squared(alpha: float, tuning: float) -> float:
    log_alpha = math.log(alpha)
    return (-2.0 * log_alpha + math.log(-2.0 * log_alpha + 1.0)) / tuning


@lru_cache(maxsize=MULTIPLIER_CACHE)
def _multiplier(n: int, alpha: float, tuning: float) -> float:
    rho2 = _rho_squared(alpha, tuning)
    u = n * rho2 + 1.0
    return math.sqrt(2.0 * u * math.log(math.sqrt(u) / alpha) / (n * rho2))


def sequential_multiplier(
    n: int, alpha: float = ALPHA, tuning: float = TUNING
) -> float:
    """Standard errors the 1 - alpha confidence sequence spans at n users.

    The sequential counterpart of the normal quantile z_{1-alpha/2}:
    sqrt(2 (n rho^2 + 1) ln(sqrt(n rho^2 + 1) / alpha) / (n rho^2)), with
    rho^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) / tuning. Always above the
    normal quantile; smallest relative to it near n = tuning. NaN if n < 1.
    Memoised (``MULTIPLIER_CACHE`` values).
    """
    if n < 1:
        return math.nan
    return _multiplier(n, alpha, tuning)


def sequential_halfwidth(
    variance: float, n: int, alpha: float = ALPHA, tuning: float = TUNING
) -> float:
    """Half-width of the always-valid 1 - alpha confidence sequence.

    ``variance`` is the estimator's variance (se squared, in squared metric
    units) and ``n`` the users behind it; the half-width is
    sqrt(variance) * ``sequential_multiplier(n, alpha, tuning)``. A variance
    of 0 gives 0 (a point interval); NaN when the variance is negative, NaN
    or infinite, or n < 1.
    """
    if not 0.0 <= variance < math.inf:
        return math.nan
    return math.sqrt(variance) * sequential_multiplier(n, alpha, tuning)


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
    ``alpha`` only sets rho (the mixing width), not a decision. A variance of
    0 is a point mass: 0.0 unless the estimate is 0, then 1.0. NaN when the
    estimate is NaN, the variance negative, NaN or infinite, or n < 1.
    """
    if math.isnan(estimate) or n < 1 or not 0.0 <= variance < math.inf:
        return math.nan
    if variance == 0.0:
        return 1.0 if estimate == 0.0 else 0.0
    rho2 = _rho_squared(alpha, tuning)
    u = n * rho2 + 1.0
    # In logs: exp() of the e-value overflows for strong effects at large n.
    log_e = rho2 * n * estimate * estimate / (2.0 * variance * u) - 0.5 * math.log(u)
    return 1.0 if log_e <= 0.0 else math.exp(-log_e)


# --- sample ratio mismatch ----------------------------------------------------


def _srm_counts(
    observed: Sequence[int], weights: Sequence[float]
) -> tuple[list[float], list[float]] | float:
    """Validated counts and shares (summing to 1) of the variations to test.

    A variation with weight 0 is dropped if it has no participants; if it has
    any, the answer is 0.0 (certain mismatch). A zero total or fewer than two
    remaining variations give 1.0 (nothing to test).
    """
    obs = [float(x) for x in observed]
    w = [float(x) for x in weights]
    if len(obs) != len(w):
        raise ValueError("observed and weights must be equal-length sequences")
    if any(x < 0 for x in w) or not sum(w) > 0:
        raise ValueError("weights must be non-negative with a positive sum")
    if any(x < 0 for x in obs):
        raise ValueError("observed counts must be non-negative")
    if not sum(obs) > 0.0:
        return 1.0
    if any(x > 0 for x, share in zip(obs, w, strict=True) if share == 0.0):
        return 0.0
    kept = [(x, share) for x, share in zip(obs, w, strict=True) if share != 0.0]
    if len(kept) < 2:
        return 1.0
    total = sum(share for _, share in kept)
    return [x for x, _ in kept], [share / total for _, share in kept]


def srm_p_value(observed: Sequence[int], weights: Sequence[float]) -> float:
    """Chi-square goodness-of-fit p-value of participant counts vs. weights.

    Weights are normalised to sum 1, so the expected counts are the observed
    total times each share: ``scipy.stats.chisquare(observed, expected)``.
    Valid for one look only: checked hourly, it flags healthy experiments
    (use ``srm_sequential_p_value`` for repeated looks). A zero total (or
    fewer than two variations) gives 1.0. A variation with weight 0 is
    dropped if it has no participants and gives 0.0 if it has any.
    """
    counts = _srm_counts(observed, weights)
    if isinstance(counts, float):
        return counts
    obs, share = counts
    total = sum(obs)
    stat = 0.0
    for x, s in zip(obs, share, strict=True):
        expected = total * s
        stat += (x - expected) ** 2 / expected
    return chi2_sf(len(obs) - 1, stat)


def srm_sequential_p_value(
    observed: Sequence[int],
    weights: Sequence[float],
    concentration: float = SRM_CONCENTRATION,
) -> float:
    """Always-valid p-value of participant counts vs. weights (sequential SRM).

    The sequential multinomial test of Lindon & Malek ("Anytime-valid
    inference for multinomial count data", NeurIPS 2022): the Bayes factor of
    a Dirichlet-multinomial with prior alpha_i = concentration * w_i against
    the multinomial at the weights w (normalised to sum 1),

        ln BF = ln G(A) - ln G(A + n) + sum_i [ln G(alpha_i + x_i) - ln G(alpha_i)
                                               - x_i ln w_i],   A = concentration,

    and p = min(1, 1/BF). BF depends on the cumulative counts x only, so the
    job may look after every user or every hour: under the weights, the chance
    that any look ever gives p <= a is at most a (the running minimum over
    looks is the sequential p-value proper). A smaller ``concentration``
    (pseudo-users) reacts faster to gross mismatches, a larger one is more
    powerful against small ones at large n. Zero weights, a zero total and
    fewer than two variations follow ``srm_p_value``.
    """
    if not concentration > 0.0:
        raise ValueError("concentration must be positive")
    counts = _srm_counts(observed, weights)
    if isinstance(counts, float):
        return counts
    obs, share = counts
    prior = [concentration * s for s in share]
    gammas = sum(
        math.lgamma(p + x) - math.lgamma(p) for p, x in zip(prior, obs, strict=True)
    )
    logs = sum(x * math.log(s) for x, s in zip(obs, share, strict=True))
    log_bf = (
        math.lgamma(concentration)
        - math.lgamma(concentration + sum(obs))
        + gammas
        - logs
    )
    return 1.0 if log_bf <= 0.0 else math.exp(-log_bf)
