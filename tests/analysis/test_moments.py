"""Tests for abflask.analysis.moments: core summaries of numpy arrays.

The job summarises per-user totals in two passes; these pin it against
numpy's own mean and variance, on the sparse rows the job has.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from abflask.analysis.moments import of_groups, of_values
from abflask.core.stats.inference import Summary

Array = npt.NDArray[np.float64]

SIZES = {"balanced": (1_000, 1_000), "unbalanced": (3_000, 700), "small": (30, 30)}


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def arms(request: pytest.FixtureRequest) -> tuple[Array, Array]:
    """Per-user values of two arms: 30% spend a skewed amount, the rest 0."""
    n_c, n_t = SIZES[request.param]
    rng = np.random.default_rng(n_c + n_t)
    c, t = ((rng.random(n) < 0.3) * rng.gamma(2.0, 10.0, n) for n in (n_c, n_t))
    return c, t


def test_of_values_matches_numpy(arms: tuple[Array, Array]) -> None:
    x = arms[1]
    s = of_values(x)
    assert s.n == x.size
    assert s.mean == pytest.approx(x.mean(), rel=1e-12)
    assert s.var == pytest.approx(x.var(ddof=1), rel=1e-12)


def test_of_groups_matches_of_values_with_rows_only_for_nonzero_users(
    arms: tuple[Array, Array],
) -> None:
    # Rows only for users with a value, in shuffled order, as the job has them.
    dense = list(arms)
    groups = np.concatenate(
        [np.full(int((x != 0).sum()), g) for g, x in enumerate(dense)]
    )
    rows = np.concatenate([x[x != 0] for x in dense])
    order = np.random.default_rng(1).permutation(rows.size)
    got = of_groups(groups[order], rows[order], [x.size for x in dense])
    for summary, x in zip(got, dense, strict=True):
        expected = of_values(x)
        assert summary.n == expected.n
        assert summary.mean == pytest.approx(expected.mean, rel=1e-12)
        assert summary.var == pytest.approx(expected.var, rel=1e-12)


@pytest.mark.parametrize("absent", [0, 30], ids=["all-rows", "30-absent"])
def test_of_groups_keeps_the_variance_of_values_near_1e9(absent: int) -> None:
    # One-pass sums (sum of squares - n mean^2) lose every digit here.
    rng = np.random.default_rng(9)
    x = 1e9 + rng.standard_normal((2, 50_000))
    n = [x.shape[1] + absent, x.shape[1]]
    got = of_groups(np.repeat([0, 1], x.shape[1]), x.ravel(), n)
    dense = [np.concatenate([x[0], np.zeros(absent)]), x[1]]
    for summary, d in zip(got, dense, strict=True):
        assert summary.mean == pytest.approx(d.mean(), rel=1e-12)
        assert summary.var == pytest.approx(np.var(d, ddof=1), rel=1e-6)
    assert got[1].var == pytest.approx(1.0, abs=0.02)


def test_of_groups_summarises_empty_and_single_user_groups() -> None:
    got = of_groups([1, 2], [4.0, 3.0], [0, 1, 2, 5])
    assert got == [
        Summary(0, 0.0, 0.0),
        Summary(1, 4.0, 0.0),
        Summary(2, 1.5, 4.5),
        Summary(5, 0.0, 0.0),
    ]


@pytest.mark.parametrize(
    ("groups", "values", "n", "message"),
    [
        ([0, 1], [1.0], [2, 2], "same length"),
        ([0, 2], [1.0, 1.0], [2, 2], "group indexes"),
        ([0, -1], [1.0, 1.0], [2, 2], "group indexes"),
        ([0, 0, 0], [1.0, 1.0, 1.0], [2], "more rows than users"),
        ([0], [math.inf], [2], "finite"),
        ([0], [math.nan], [2], "finite"),
    ],
    ids=["lengths", "index-high", "index-negative", "too-many-rows", "inf", "nan"],
)
def test_of_groups_rejects_inconsistent_input(
    groups: list[int], values: list[float], n: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        of_groups(groups, values, n)


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (of_values(np.array([])), (0, 0.0, 0.0)),
        (of_values(np.array([4.0])), (1, 4.0, 0.0)),
        (of_groups([], [], [0])[0], (0, 0.0, 0.0)),
        (of_groups([0], [4.0], [1])[0], (1, 4.0, 0.0)),
    ],
    ids=["values-empty", "values-one", "groups-empty", "groups-one"],
)
def test_summary_of_fewer_than_two_users_has_zero_variance(
    summary: Summary, expected: tuple[int, float, float]
) -> None:
    assert (summary.n, summary.mean, summary.var) == expected
