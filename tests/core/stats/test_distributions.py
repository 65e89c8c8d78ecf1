"""Tests for abflask.core.stats.distributions against scipy.special.

Grids of each function against its scipy counterpart, to 1e-12 relative
wherever the value is above 1e-300, with degrees of freedom up to 10^12 (the
t CDF's large-df expansion) and |t| up to 40. Where scipy itself is wrong
(stdtr of df < 1 past t^2/df = 1e300, stdtrit near p = 1/2 or beyond 1e153)
the tests check the inversion and values from a 50-digit integral instead.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
from scipy import special  # type: ignore[import-untyped]

from abflask.core.stats import distributions
from abflask.core.stats.distributions import (
    chi2_sf,
    normal_cdf,
    normal_quantile,
    t_cdf,
    t_quantile,
)

REL = 1e-12
"""Relative tolerance against scipy.special."""

DFS = [
    1.5,
    2.0,
    3.0,
    4.7,
    10.0,
    29.9,
    30.0,
    31.0,
    100.0,
    1e3,
    1e4,
    1e5,
    1e6,
    1e7,
    1e8,
    1e9,
    1e10,
    1e11,
    1e12,
]
TS = [1e-3, 0.5, 1.0, 1.7, 1.96, 2.5, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 40.0]
PS = [1e-100, 1e-20, 1e-10, 1e-5, 1e-3, 0.025, 0.05, 0.2, 0.4]
PS += [1.0 - p for p in PS[3:]] + [1.0 - 1e-10]


def close(got: float, want: float, rel: float = REL) -> bool:
    return got == pytest.approx(want, rel=rel, abs=0.0)


def switch_ts(df: float) -> list[float]:
    """|t| just inside and outside the switch to Temme's expansion."""
    edge = math.sqrt(df * distributions._TEMME_RATIO)
    return [edge * (1 - 1e-9), edge * (1 + 1e-9)]


# --- the t CDF ----------------------------------------------------------------


@pytest.mark.parametrize("df", DFS, ids=lambda df: f"df={df:g}")
def test_t_cdf_matches_scipy(df: float) -> None:
    bad = []
    for t in [*TS, *switch_ts(df)]:
        for x in (-t, t):
            want = float(special.stdtr(df, x))
            got = t_cdf(df, x)
            if want > 1e-300 and not close(got, want):
                bad.append((x, got, want))
    assert bad == []


@pytest.mark.parametrize(
    ("df", "t", "tail"),
    [
        # P(T <= -t) from the integral of the density, at 50 digits
        (1e6, 30.0, 6.0100471168317189413e-198),
        (1e9, 20.0, 2.7537348158163977301e-89),
        (1e12, 30.0, 4.9067149229646631569e-198),
        (1e6, 1.96, 0.024998033792634895343),
        (1e12, 1e-5, 0.49999601057719605316),
        (0.5, 1000.0, 0.01014145454085709466),
        (3.0, 1e-3, 0.499632447484730469),
    ],
)
def test_t_cdf_matches_the_integral(df: float, t: float, tail: float) -> None:
    assert close(t_cdf(df, -t), tail)


def test_t_cdf_of_one_degree_is_the_cauchy() -> None:
    # stdtr(1, t) is off by 3e-9 for |t| near 1e-8; atan is exact.
    for t in (1e-12, 1e-8, 1e-3, 0.5, 3.0, 1e6, 1e100, 1e200):
        assert close(t_cdf(1.0, -t), math.atan2(1.0, t) / math.pi), t


def test_t_cdf_keeps_heavy_tails_past_overflow() -> None:
    # t^2 overflows; the tail is x^a / (a B(a, 1/2)), x = df / t^2.
    df, t = 0.010316391342750987, 5.322306651272294e156
    assert close(t_cdf(df, t), 0.988283741793747154121)


@pytest.mark.parametrize("df", [30.0, 31.0, 50.0, 100.0, 300.0])
def test_temme_and_the_continued_fraction_agree_at_the_switch(df: float) -> None:
    for i in range(1, 40):
        u = distributions._TEMME_U * i / 39
        t2 = df * math.expm1(u)
        x, y = df / (df + t2), t2 / (df + t2)
        expansion = distributions._t_tail_temme(df, math.log1p(t2 / df))
        fraction = 0.5 * distributions._beta_reg(0.5 * df, 0.5, x, y)
        assert close(expansion, fraction, 5e-14), u


@pytest.mark.parametrize(
    ("df", "t", "expected"),
    [
        (math.inf, -1.96, normal_cdf(-1.96)),
        (5.0, -math.inf, 0.0),
        (5.0, math.inf, 1.0),
        (5.0, 0.0, 0.5),
    ],
)
def test_t_cdf_limits(df: float, t: float, expected: float) -> None:
    assert t_cdf(df, t) == expected


@pytest.mark.parametrize(
    ("df", "t"), [(math.nan, 1.0), (5.0, math.nan), (0.0, 1.0), (-1.0, 1.0)]
)
def test_t_cdf_is_nan_outside_its_domain(df: float, t: float) -> None:
    assert math.isnan(t_cdf(df, t))


# --- the t quantile -----------------------------------------------------------


@pytest.mark.parametrize("df", [1.0, *DFS], ids=lambda df: f"df={df:g}")
def test_t_quantile_matches_scipy(df: float) -> None:
    bad = []
    for p in PS:
        want = float(special.stdtrit(df, p))
        got = t_quantile(df, p)
        if not close(got, want):
            bad.append((p, got, want))
    assert bad == []


BEYOND_FLOATS = [(0.1, 1e-50), (0.1, 1e-200), (0.1, 1e-300), (0.5, 1e-200)]
BEYOND_FLOATS += [(0.5, 1e-300), (0.9, 1e-300)]
"""Heavy tails whose quantile is beyond the largest float: at df = 0.1,
P(T <= t) ~ 0.45 |t|^-0.1, so p = 1e-50 is at |t| ~ 1e500."""
INVERTED = [
    (df, p)
    for df in (0.1, 0.5, 0.9, 1.2, 2.5, 7.0, 40.0, 1e4, 1e9)
    for p in (1e-300, 1e-200, 1e-50, 1e-5, 0.3, 0.4999999)
    if (df, p) not in BEYOND_FLOATS
]


@pytest.mark.parametrize(("df", "p"), INVERTED)
def test_t_quantile_inverts_the_cdf(df: float, p: float) -> None:
    # Also where stdtrit saturates (about 1e153) or is off near p = 1/2.
    t = t_quantile(df, p)
    assert -math.inf < t < 0.0
    assert close(t_cdf(df, t), p, 1e-12)


@pytest.mark.parametrize(("df", "p"), BEYOND_FLOATS)
def test_t_quantile_beyond_the_largest_float_is_infinite(df: float, p: float) -> None:
    assert t_quantile(df, p) == -math.inf


@pytest.mark.parametrize(
    ("df", "p", "expected"),
    [
        (5.0, 0.0, -math.inf),
        (5.0, 1.0, math.inf),
        (5.0, 0.5, 0.0),
        (math.inf, 0.975, normal_quantile(0.975)),
    ],
)
def test_t_quantile_limits(df: float, p: float, expected: float) -> None:
    assert t_quantile(df, p) == expected


@pytest.mark.parametrize(
    ("df", "p"),
    [(math.nan, 0.5), (5.0, math.nan), (0.0, 0.5), (5.0, -0.1), (5.0, 1.1)],
)
def test_t_quantile_is_nan_outside_its_domain(df: float, p: float) -> None:
    assert math.isnan(t_quantile(df, p))


# --- the normal and the chi-square ----------------------------------------------


def test_normal_cdf_matches_scipy() -> None:
    for x in (-37.0, -20.0, -8.0, -3.0, -1.0, -1e-8, 0.0, 0.5, 2.0, 6.0):
        assert close(normal_cdf(x), float(special.ndtr(x))), x


def test_normal_quantile_matches_scipy() -> None:
    for p in (1e-300, 1e-50, 1e-8, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 1 - 1e-12):
        assert normal_quantile(p) == pytest.approx(
            float(special.ndtri(p)), rel=REL, abs=1e-300
        ), p


def test_the_memoised_normal_quantile_is_the_standard_normals_own() -> None:
    levels = (1e-300, 0.025, 0.2, 0.5, 0.8, 0.95, 0.975, 0.995)
    first = [normal_quantile(p) for p in levels]
    again = [normal_quantile(p) for p in levels]
    assert first == again == [NormalDist().inv_cdf(p) for p in levels]


@pytest.mark.parametrize(
    ("p", "expected"), [(0.0, -math.inf), (1.0, math.inf), (-0.1, math.nan)]
)
def test_normal_quantile_limits(p: float, expected: float) -> None:
    got = normal_quantile(p)
    assert got == expected or (math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize("k", [0.5, 1.0, 2.0, 3.0, 10.0, 50.0])
def test_chi2_sf_matches_scipy(k: float) -> None:
    for x in (1e-3, 0.5, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0):
        want = float(special.chdtrc(k, x))
        if want > 1e-300:
            assert close(chi2_sf(k, x), want, 1e-13), x


@pytest.mark.parametrize(
    ("k", "x", "expected"),
    [(2.0, 0.0, 1.0), (2.0, -1.0, 1.0), (2.0, math.inf, 0.0)],
)
def test_chi2_sf_limits(k: float, x: float, expected: float) -> None:
    assert chi2_sf(k, x) == expected


@pytest.mark.parametrize(("k", "x"), [(0.0, 1.0), (math.nan, 1.0), (2.0, math.nan)])
def test_chi2_sf_is_nan_outside_its_domain(k: float, x: float) -> None:
    assert math.isnan(chi2_sf(k, x))
