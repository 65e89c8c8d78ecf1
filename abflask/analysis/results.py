"""From per-user aggregates to an experiment's results: numbers and verdicts.

Pure (pandas/numpy and ``stats``; no I/O). The result is a JSON-ready dict;
its shape is documented in the README ("Analysis").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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

NULL_COMPARISON = dict.fromkeys(
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
    rows: list[dict[str, Any]],
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


def _comparisons(
    exp: Experiment, agg: Aggregates, event_id: int | None
) -> list[dict[str, Any]]:
    k = len(exp.variations)
    n, conv, total, total_sq = _per_variation(agg, event_id, k)
    conv_s = [stats.Summary.of_counts(int(conv[i]), int(n[i])) for i in range(k)]
    value_s = [
        stats.Summary.from_sums(int(n[i]), float(total[i]), float(total_sq[i]))
        for i in range(k)
    ]
    rows = []
    for i, name in enumerate(exp.variations):
        row: dict[str, Any] = {
            "name": name,
            "participants": int(n[i]),
            "converters": int(conv[i]),
            "conversion_rate": _clean(conv_s[i].mean) if n[i] else None,
            "mean": _clean(value_s[i].mean) if n[i] else None,
            "conversion": dict(NULL_COMPARISON),
            "value": dict(NULL_COMPARISON),
        }
        if i > 0:
            row["conversion"].update(
                stats.proportion_test(conv_s[0], conv_s[i]).to_dict()
            )
            row["value"].update(stats.welch_test(value_s[0], value_s[i]).to_dict())
        rows.append(row)
    return rows


def _holm(metrics: list[dict[str, Any]], kind: str, field: str) -> None:
    """Holm-adjust ``field`` across every variation × metric of the experiment."""
    cells = [row[kind] for m in metrics for row in m["variations"][1:]]
    raw = [np.nan if c[field] is None else c[field] for c in cells]
    for cell, adjusted in zip(cells, stats.holm(raw), strict=True):
        cell[f"{field}_holm"] = _clean(adjusted)


def _timeseries(
    exp: Experiment, agg: Aggregates, event_id: int | None
) -> dict[str, Any]:
    """Cumulative participants, conversion and lift with the sequential band."""
    users = agg.users
    if len(users) == 0:
        return {"event": None, "points": []}
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
    points = []
    for j, t in enumerate(edges):
        summaries = [
            stats.Summary.of_counts(int(c[j, i]), int(n[j, i])) for i in range(k)
        ]
        lifts = []
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
    return {"points": points, "step": step}


def compute(
    exp: Experiment, agg: Aggregates, names: Mapping[int, str], now: float
) -> dict[str, Any]:
    """All numbers for one experiment (see the README for the shape)."""
    agg.finish()
    ids = {name: i for i, name in names.items()}
    k = len(exp.variations)
    n = np.bincount(agg.users["variation"].to_numpy(np.int64), minlength=k)[:k]
    weights = list(exp.weights) if exp.weights else [1.0 / k] * k
    srm_p = stats.srm_p_value([int(x) for x in n], weights)
    srm = bool(srm_p < stats.SRM_THRESHOLD)
    events = metric_names(exp, names, agg.pairs)
    metrics: list[dict[str, Any]] = [
        {"event": e, "variations": _comparisons(exp, agg, ids.get(e))} for e in events
    ]
    for kind in ("conversion", "value"):
        _holm(metrics, kind, "p_value")
        _holm(metrics, kind, "p_value_sequential")
    for m in metrics:
        control = m["variations"][0]
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
        m["users_needed"] = needed
        m["verdict"] = _verdict(exp, m["event"], m["variations"], srm, needed)
    primary = events[0] if events else None
    series = _timeseries(exp, agg, ids.get(primary) if primary else None)
    series["event"] = primary
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
