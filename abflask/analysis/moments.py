"""Per-user values summarised with numpy: core ``Summary`` objects from arrays.

The job's half of ``abflask.core.stats.inference.Summary``: everything after
the summaries is pure and shared with the service; turning arrays of
per-user totals into them is the job's, in two passes so that values like
1e9 + small noise keep their variance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abflask.core.stats.inference import Summary

__all__ = ["of_groups", "of_values"]


def of_values(x: npt.ArrayLike) -> Summary:
    """Summarise per-user values; var (ddof=1) is 0 when there are fewer than 2.

    ``of_values([0.0, 2.5, 4.0])`` is ``Summary(3, 2.1666..., 4.0833...)``.
    """
    arr = np.asarray(x, dtype=np.float64).ravel()
    n = int(arr.size)
    if n == 0:
        return Summary(0, 0.0, 0.0)
    var = float(arr.var(ddof=1)) if n > 1 else 0.0
    return Summary(n, float(arr.mean()), var)


def of_groups(
    groups: npt.ArrayLike, values: npt.ArrayLike, n_per_group: npt.ArrayLike
) -> list[Summary]:
    """Summarise per-user values of several groups at once, sparse rows.

    Row i is one user of group ``groups[i]`` (0 <= g < len(n_per_group))
    with value ``values[i]``; group g has ``n_per_group[g]`` users, and
    those without a row count as value 0, so users without events need
    no row: ``of_groups([0, 0], [2.5, 4.0], [3])`` equals
    ``[of_values([0.0, 2.5, 4.0])]``. Two passes (the mean, then squared
    deviations from it, with the corrected-two-pass term of Chan, Golub &
    LeVeque), so values like 1e9 + small noise keep their variance. Groups
    with fewer than 2 users have var 0; an empty group gives
    Summary(0, 0.0, 0.0).

    Raises:
        ValueError: shapes differ, a group index is out of range, a group
            has more rows than users, or a value is not finite.
    """
    g = np.asarray(groups, dtype=np.int64).ravel()
    x = np.asarray(values, dtype=np.float64).ravel()
    n = np.asarray(n_per_group, dtype=np.int64).ravel()
    k = n.size
    if g.shape != x.shape:
        raise ValueError("groups and values must have the same length")
    if g.size and (g.min() < 0 or g.max() >= k):
        raise ValueError(f"group indexes must be in [0, {k})")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite")
    rows = np.bincount(g, minlength=k)
    if np.any(rows > n):
        raise ValueError("a group has more rows than users")
    users = np.maximum(n, 1).astype(np.float64)
    mean = np.bincount(g, weights=x, minlength=k) / users
    dev = x - mean[g]
    absent = (n - rows) * mean  # each absent user deviates by -mean
    dev_sum = np.bincount(g, weights=dev, minlength=k) - absent
    sq_sum = np.bincount(g, weights=dev * dev, minlength=k) + absent * mean
    var = (sq_sum - dev_sum * dev_sum / users) / np.maximum(n - 1, 1)
    var = np.where(n > 1, np.maximum(var, 0.0), 0.0)
    return [Summary(int(n[i]), float(mean[i]), float(var[i])) for i in range(k)]
