"""From per-user aggregates to an experiment's results: numbers and verdicts.

Pure (pandas/numpy and ``stats``; no I/O). The result is a JSON-ready dict
typed by ``ExperimentResult`` (the README's "Analysis" shows it); the reports
only format it, they compute nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import NotRequired, TypedDict

import numpy as np
import pandas as pd

from abflask.analysis import stats
from abflask.analysis.aggregate import Aggregates
from abflask.core.experiment import Experiment

REL_EFFECT = 0.05
"""Relative lift the "users needed" estimate is computed for (5%)."""
MAX_POINTS = 200
"""Most points of a time series."""
HOUR, DAY = 3600, 86400
"""Seconds."""

RATE_Z = NormalDist().inv_cdf(1 - stats.ALPHA / 2)
"""Normal quantile of the per-variation rate intervals (1.96 for 95%)."""

Interval = list[float | None]
"""``[low, high]``; None where undefined."""


class ComparisonResult(TypedDict):
    """A treatment against control on one kind (conversion or value); all None
    on the control row."""

    abs_lift: float | None
    abs_ci: Interval | None
    rel_lift: float | None
    rel_ci: Interval | None
    p_value: float | None
    p_value_holm: float | None
    p_value_sequential: float | None
    p_value_sequential_holm: float | None
    abs_ci_sequential: Interval | None
    rel_ci_sequential: Interval | None


class VariationResult(TypedDict):
    """One variation's numbers on one metric."""

    name: str
    participants: int
    converters: int
    conversion_rate: float | None
    conversion_rate_ci: Interval | None
    """Normal (Wald) interval of the rate at 1 - ALPHA, for plots."""
    mean: float | None
    conversion: ComparisonResult
    value: ComparisonResult


class MetricResult(TypedDict):
    """One metric (event key): every variation, the verdict."""

    event: str
    variations: list[VariationResult]
    users_needed: int | None
    verdict: str


class LiftPoint(TypedDict):
    rel_lift: float | None
    rel_ci_sequential: Interval


class TimePoint(TypedDict):
    """Cumulative counts at ``t`` (epoch seconds), one entry per variation."""

    t: int
    participants: list[int]
    converters: list[int]
    lift: list[LiftPoint]
    """One per treatment, against control."""


class TimeSeries(TypedDict):
    event: str | None
    step: NotRequired[int]
    """Seconds between points."""
    points: list[TimePoint]


class ExperimentResult(TypedDict):
    """Everything the job computes for one experiment."""

    key: str
    name: str
    status: str
    generated_at: float
    variations: list[str]
    participants: dict[str, int]
    srm_p_value: float | None
    srm_warning: bool
    records_analysed: int
    metrics: list[MetricResult]
    timeseries: TimeSeries


NULL_COMPARISON: ComparisonResult = dict.fromkeys(  # type: ignore[assignment]
    [
        "abs_lift",
        "abs_ci",
        "rel_lift",
        "rel_ci",
        "p_value",
        "p_value_holm",
        "p_value_sequential",
        "p_value_sequential_holm",
        "abs_ci_sequential",
        "rel_ci_sequential",
    ]
)


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def metric_names(
    exp: Experiment, names: Mapping[int, str], pairs: pd.DataFrame
) -> list[str]:
    """The experiment's metrics, or every event key seen (sorted) if it has none."""
    if exp.metrics:
        return list(exp.metrics)
    seen = {names[int(e)] for e in pairs["event"].unique() if int(e) in names}
    return sorted(seen)


def _per_variation(
    agg: Aggregates, event_id: int | None, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Participants, converters, value total and total of squares by variation."""
    users = agg.users
    n = np.bincount(users["variation"].to_numpy(np.int64), minlength=k)[:k]
    zeros = np.zeros(k)
    if event_id is None:
        return n, zeros.astype(np.int64), zeros, zeros
    pairs = agg.pairs[agg.pairs["event"] == event_id]
    variation = users["variation"].reindex(pairs["user"].to_numpy()).to_numpy(np.int64)
    values = pairs["value"].to_numpy(np.float64)
    converters = np.bincount(variation, minlength=k)[:k]
    total = np.bincount(variation, weights=values, minlength=k)[:k]
    total_sq = np.bincount(variation, weights=values * values, minlength=k)[:k]
    return n, converters, total, total_sq


def _verdict(
    exp: Experiment,
    event: str,
    rows: list[VariationResult],
    srm: bool,
    needed: int | None,
) -> str:
    control = exp.variations[0]
    if srm:
        return "results unreliable: sample ratio mismatch"
    if rows[0]["participants"] < 2 or rows[0]["converters"] == 0:
        return f"not enough data yet on {event}"
    winners = []
    for row in rows[1:]:
        cmp = row["conversion"]
        p = cmp["p_value_sequential_holm"]
        lift, ci = cmp["rel_lift"], cmp["rel_ci_sequential"]
        if p is None or lift is None or ci is None or p >= stats.ALPHA:
            continue
        word = "beats" if lift > 0 else "is worse than"
        winners.append(
            f"{row['name']} {word} {control} on {event}: {lift:+.1%} "
            f"[{ci[0]:+.1%}, {ci[1]:+.1%}]"
        )
    if winners:
        return "; ".join(winners)
    more = ""
    if needed is not None:
        have = min(r["participants"] for r in rows)
        more = (
            f" — about {max(needed - have, 0):,} more users per variation "
            f"needed for a {REL_EFFECT:.0%} relative lift"
        )
    return f"no detectable difference yet on {event}{more}"


def _comparison(cmp: stats.Comparison) -> ComparisonResult:
    """A comparison's JSON fields, with the Holm fields still to fill in."""
    filled = {**NULL_COMPARISON, **cmp.to_dict()}
    return filled  # type: ignore[return-value]


def _rate_interval(s: stats.Summary) -> Interval | None:
    if s.n == 0:
        return None
    half = RATE_Z * math.sqrt(s.var / s.n)
    return [_clean(s.mean - half), _clean(s.mean + half)]


def _comparisons(
    exp: Experiment, agg: Aggregates, event_id: int | None
) -> list[VariationResult]:
    k = len(exp.variations)
    n, conv, total, total_sq = _per_variation(agg, event_id, k)
    conv_s = [stats.Summary.of_counts(int(conv[i]), int(n[i])) for i in range(k)]
    value_s = [
        stats.Summary.from_sums(int(n[i]), float(total[i]), float(total_sq[i]))
        for i in range(k)
    ]
    rows: list[VariationResult] = []
    for i, name in enumerate(exp.variations):
        treated = i > 0
        rows.append(
            {
                "name": name,
                "participants": int(n[i]),
                "converters": int(conv[i]),
                "conversion_rate": _clean(conv_s[i].mean) if n[i] else None,
                "conversion_rate_ci": _rate_interval(conv_s[i]),
                "mean": _clean(value_s[i].mean) if n[i] else None,
                "conversion": _comparison(stats.proportion_test(conv_s[0], conv_s[i]))
                if treated
                else dict(NULL_COMPARISON),  # type: ignore[typeddict-item]
                "value": _comparison(stats.welch_test(value_s[0], value_s[i]))
                if treated
                else dict(NULL_COMPARISON),  # type: ignore[typeddict-item]
            }
        )
    return rows


def _holm(tables: list[list[VariationResult]], kind: str) -> None:
    """Holm-adjust both p-values across every variation × metric of the experiment.

    ``kind`` is ``conversion`` or ``value``: each is a family of its own.
    """
    cells: list[ComparisonResult] = [
        row["conversion"] if kind == "conversion" else row["value"]
        for rows in tables
        for row in rows[1:]
    ]
    fixed = [np.nan if c["p_value"] is None else c["p_value"] for c in cells]
    sequential = [
        np.nan if c["p_value_sequential"] is None else c["p_value_sequential"]
        for c in cells
    ]
    adjusted = zip(stats.holm(fixed), stats.holm(sequential), strict=True)
    for cell, (p, p_seq) in zip(cells, adjusted, strict=True):
        cell["p_value_holm"] = _clean(p)
        cell["p_value_sequential_holm"] = _clean(p_seq)


def _timeseries(
    exp: Experiment, agg: Aggregates, event: str | None, event_id: int | None
) -> TimeSeries:
    """Cumulative participants, conversion and lift with the sequential band."""
    users = agg.users
    if len(users) == 0:
        return {"event": event, "points": []}
    start, end = int(users["exposed_at"].min()), int(users["exposed_at"].max())
    if event_id is not None:
        firsts = agg.pairs.loc[agg.pairs["event"] == event_id, "first_at"].to_numpy()
        end = max(end, int(firsts.max(initial=end)))
    step = HOUR if end - start <= 3 * DAY else DAY
    step = max(step, math.ceil((end - start + 1) / MAX_POINTS / step) * step)
    edges = np.arange(start - start % step + step, end + step + 1, step)
    k = len(exp.variations)
    var = users["variation"].to_numpy(np.int64)
    exposed = np.searchsorted(edges, users["exposed_at"].to_numpy(), side="left")
    n = np.zeros((len(edges), k), np.int64)
    np.add.at(n, (exposed, var), 1)
    c = np.zeros_like(n)
    if event_id is not None:
        pairs = agg.pairs[agg.pairs["event"] == event_id]
        pv = users["variation"].reindex(pairs["user"].to_numpy()).to_numpy(np.int64)
        when = np.maximum(
            pairs["first_at"].to_numpy(),
            users["exposed_at"].reindex(pairs["user"].to_numpy()).to_numpy(),
        )
        np.add.at(c, (np.searchsorted(edges, when, side="left"), pv), 1)
    n, c = n.cumsum(axis=0), c.cumsum(axis=0)
    points: list[TimePoint] = []
    for j, t in enumerate(edges):
        summaries = [
            stats.Summary.of_counts(int(c[j, i]), int(n[j, i])) for i in range(k)
        ]
        lifts: list[LiftPoint] = []
        for i in range(1, k):
            cmp = stats.proportion_test(summaries[0], summaries[i])
            lifts.append(
                {
                    "rel_lift": _clean(cmp.rel_lift),
                    "rel_ci_sequential": [_clean(x) for x in cmp.rel_ci_sequential],
                }
            )
        points.append(
            {
                "t": int(t),
                "participants": n[j].tolist(),
                "converters": c[j].tolist(),
                "lift": lifts,
            }
        )
    return {"points": points, "step": step, "event": event}


def compute(
    exp: Experiment, agg: Aggregates, names: Mapping[int, str], now: float
) -> ExperimentResult:
    """All numbers for one experiment (see the README for the shape)."""
    agg.finish()
    ids = {name: i for i, name in names.items()}
    k = len(exp.variations)
    n = np.bincount(agg.users["variation"].to_numpy(np.int64), minlength=k)[:k]
    weights = list(exp.weights) if exp.weights else [1.0 / k] * k
    srm_p = stats.srm_p_value([int(x) for x in n], weights)
    srm = bool(srm_p < stats.SRM_THRESHOLD)
    events = metric_names(exp, names, agg.pairs)
    tables = [_comparisons(exp, agg, ids.get(e)) for e in events]
    for kind in ("conversion", "value"):
        _holm(tables, kind)
    metrics: list[MetricResult] = []
    for event, rows in zip(events, tables, strict=True):
        control = rows[0]
        needed = (
            stats.users_needed(
                stats.Summary.of_counts(control["converters"], control["participants"]),
                "conversion",
                REL_EFFECT,
            )
            if control["participants"]
            else None
        )
        if needed is not None and needed >= stats.MAX_USERS:
            needed = None  # out of reach: say nothing rather than "10**12 more"
        metrics.append(
            {
                "event": event,
                "variations": rows,
                "users_needed": needed,
                "verdict": _verdict(exp, event, rows, srm, needed),
            }
        )
    primary = events[0] if events else None
    series = _timeseries(exp, agg, primary, ids.get(primary) if primary else None)
    return {
        "key": exp.key,
        "name": exp.name or exp.key,
        "status": exp.status,
        "generated_at": now,
        "variations": list(exp.variations),
        "participants": {v: int(n[i]) for i, v in enumerate(exp.variations)},
        "srm_p_value": _clean(srm_p),
        "srm_warning": srm,
        "records_analysed": agg.position,
        "metrics": metrics,
        "timeseries": series,
    }
