"""From per-user aggregates to one phase's results: numbers and the decision.

Pure (pandas/numpy, ``stats`` and ``verdict``; no I/O). ``compute`` picks the
phase's participants (first exposed while the phase ran, exposed to one
variation only), sums each metric per participant (attributed events only,
capped if the metric says so), lets ``verdict.evaluate`` decide, and returns
a JSON-ready dict typed by ``schema.ExperimentResult`` (the README's
"Analysis" shows it). The reports only format it; they compute nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pandas as pd

from abflask.analysis import sequential, stats, verdict
from abflask.analysis.aggregate import Aggregates
from abflask.analysis.schema import (
    ComparisonResult,
    ExperimentResult,
    Interval,
    LiftPoint,
    MetricResult,
    TimePoint,
    TimeSeries,
    VariationResult,
)
from abflask.core.experiment import Experiment
from abflask.core.metric import AnalysisSettings, Metric

MAX_POINTS = 200
"""Most points of a time series."""
HOUR, DAY = 3600, 86400
"""Seconds."""

_COMPARISON_FIELDS = (
    "abs_lift",
    "abs_ci",
    "rel_lift",
    "rel_ci",
    "p_value",
    "p_value_adjusted",
    "p_value_sequential",
    "p_value_sequential_adjusted",
    "abs_ci_sequential",
    "rel_ci_sequential",
    "state",
)
NULL_COMPARISON: ComparisonResult = dict.fromkeys(_COMPARISON_FIELDS)  # type: ignore[assignment]


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _pair(x: tuple[float, float]) -> Interval:
    return [_clean(x[0]), _clean(x[1])]


@dataclass(frozen=True)
class Phase:
    """The analysed phase: index, bounds (epoch seconds) and weights."""

    index: int
    count: int
    started_at: float | None
    ended_at: float | None
    weights: tuple[float, ...]


def select_phase(exp: Experiment, index: int | None) -> Phase:
    """The phase ``index`` (None: the current one); ValueError if there is none.

    An experiment that never started (or a CSV without a definition) has one
    implicit phase with its current weights.
    """
    k = len(exp.variations)
    phases = exp.phases
    if not phases:
        if index not in (None, 0):
            raise ValueError(f"phase {index} does not exist; the experiment has one")
        weights = tuple(exp.weights) if exp.weights else (1.0 / k,) * k
        return Phase(0, 1, None, None, weights)
    last = len(phases) - 1
    i = last if index is None else index
    if not 0 <= i <= last:
        raise ValueError(f"phase {index} does not exist; phases are 0-{last}")
    ended = phases[i + 1].started_at if i < last else None
    return Phase(i, len(phases), phases[i].started_at, ended, tuple(phases[i].weights))


def phase_of(
    exp: Experiment, exposed_at: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``Experiment.phase_at`` of each first-exposure time, vectorised; -1 for
    the second a later phase started in (both splits enrolled users then)."""
    index = np.zeros(len(exposed_at), np.int64)
    for i, p in enumerate(exp.phases):
        index[exposed_at >= p.started_at] = i
    for p in exp.phases[1:]:
        first = math.floor(p.started_at)
        if first != p.started_at:
            index[exposed_at == first] = -1
    return index


def metrics_of(
    exp: Experiment, names: Mapping[int, str], pairs: pd.DataFrame
) -> list[Metric]:
    """The experiment's metrics; without any, every event key seen (sorted),
    each a primary conversion metric."""
    if exp.metrics:
        return list(exp.metrics)
    seen = {names[int(e)] for e in pairs["event"].unique() if int(e) in names}
    return [Metric(event=name) for name in sorted(seen)]


@dataclass(frozen=True)
class PhaseData:
    """The phase's participants and, per metric, each participant's total.

    ``users``: the participants (index user) with ``variation`` and
    ``exposed_at``; ``counts`` participants per variation.
    """

    users: pd.DataFrame
    pairs: pd.DataFrame
    counts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, exp: Experiment, agg: Aggregates, phase: Phase) -> PhaseData:
        users = agg.users[~agg.users["multi"].to_numpy(bool)]
        phases = phase_of(exp, users["exposed_at"].to_numpy(np.int64))
        users = users[phases == phase.index]
        pairs = agg.pairs[agg.pairs["user"].isin(users.index)]
        k = len(exp.variations)
        counts = np.bincount(users["variation"].to_numpy(np.int64), minlength=k)[:k]
        return cls(users, pairs, counts.astype(np.int64))

    def metric_rows(
        self, event_id: int | None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Variation, value total and first time of each participant with the event."""
        if event_id is None:
            return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
        pairs = self.pairs[self.pairs["event"] == event_id]
        users = pairs["user"].to_numpy()
        variation = self.users["variation"].reindex(users).to_numpy(np.int64)
        return (
            variation,
            pairs["value"].to_numpy(np.float64),
            pairs["first_at"].to_numpy(np.int64),
        )


def cap_value(metric: Metric, values: npt.NDArray[np.float64], n: int) -> float | None:
    """The cap for per-user totals: the metric's fixed cap, or its percentile of
    the pooled totals of all ``n`` participants (those without a row count 0)."""
    if metric.type != "value":
        return None
    if metric.cap is not None:
        return float(metric.cap)
    if metric.cap_percentile is None or n == 0:
        return None
    zeros = n - len(values)
    pooled = np.concatenate([values, np.zeros(max(zeros, 0))])
    return float(np.quantile(pooled, metric.cap_percentile))


def metric_data(
    metric: Metric, phase: PhaseData, event_id: int | None
) -> tuple[verdict.MetricData, npt.NDArray[np.int64], float | None]:
    """One metric's summaries, converters per variation, and the cap used."""
    k = len(phase.counts)
    variation, values, _ = phase.metric_rows(event_id)
    cap = cap_value(metric, values, int(phase.counts.sum()))
    if cap is not None:
        values = np.minimum(values, cap)
    converters = np.bincount(variation, minlength=k)[:k].astype(np.int64)
    conversion = [
        stats.Summary.of_counts(int(converters[i]), int(phase.counts[i]))
        for i in range(k)
    ]
    value = stats.Summary.of_groups(variation, values, phase.counts)
    nonnegative = bool(values.size == 0 or values.min() >= 0.0)
    return verdict.MetricData(metric, conversion, value, nonnegative), converters, cap


def _comparison(
    cmp: stats.Comparison, adjusted: float | None, adjusted_seq: float | None
) -> ComparisonResult:
    return {
        "abs_lift": _clean(cmp.abs_lift),
        "abs_ci": _pair(cmp.abs_ci),
        "rel_lift": _clean(cmp.rel_lift),
        "rel_ci": _pair(cmp.rel_ci),
        "p_value": _clean(cmp.p_value),
        "p_value_adjusted": adjusted,
        "p_value_sequential": _clean(cmp.p_value_sequential),
        "p_value_sequential_adjusted": adjusted_seq,
        "abs_ci_sequential": _pair(cmp.abs_ci_sequential),
        "rel_ci_sequential": _pair(cmp.rel_ci_sequential),
        "state": cmp.state,
    }


def _rate_interval(s: stats.Summary, z: float) -> Interval | None:
    """mean ± z·sqrt(var/n): the Wald interval of a rate, or a mean's."""
    if s.n == 0:
        return None
    half = z * math.sqrt(s.var / s.n)
    return [_clean(s.mean - half), _clean(s.mean + half)]


def _metric_result(
    ev: verdict.MetricEvaluation,
    variations: Sequence[str],
    converters: npt.NDArray[np.int64],
    cap: float | None,
    settings: AnalysisSettings,
) -> MetricResult:
    z = NormalDist().inv_cdf(1 - settings.alpha / 2)
    data, metric = ev.data, ev.metric
    rows: list[VariationResult] = []
    for i, name in enumerate(variations):
        conv, val = data.conversion[i], data.value[i]
        row: VariationResult = {
            "name": name,
            "participants": conv.n,
            "converters": int(converters[i]),
            "conversion_rate": _clean(conv.mean) if conv.n else None,
            "conversion_rate_ci": _rate_interval(conv, z),
            "mean": _clean(val.mean) if val.n else None,
            "mean_ci": _rate_interval(val, z),
            "outcome": None,
            "harm_bound": None,
            "conversion": dict(NULL_COMPARISON),  # type: ignore[typeddict-item]
            "value": dict(NULL_COMPARISON),  # type: ignore[typeddict-item]
        }
        if i:
            j = i - 1
            own = metric.type
            row["outcome"] = ev.outcomes[j]
            row["harm_bound"] = _clean(ev.harm_bound[j])
            for kind, cmps in (("conversion", ev.conversion), ("value", ev.value)):
                mine = kind == own
                row[kind] = _comparison(  # type: ignore[literal-required]
                    cmps[j],
                    ev.adjusted[j] if mine else None,
                    ev.adjusted_sequential[j] if mine else None,
                )
        rows.append(row)
    return {
        **metric.to_dict(),  # type: ignore[typeddict-item]
        "cap_value": cap,
        "variations": rows,
        "users_needed": ev.users_needed,
        "verdict": ev.verdict,
    }


def _timeseries(
    data: verdict.MetricData,
    phase: PhaseData,
    event_id: int | None,
    cap: float | None,
    settings: AnalysisSettings,
) -> TimeSeries:
    """Cumulative participants, converters and lift with the sequential band.

    The same participants, attribution and cap as the table, so the last
    point equals the table's numbers.
    """
    metric = data.metric
    users = phase.users
    if len(users) == 0:
        return {"event": metric.event, "type": metric.type, "points": []}
    exposed_at = users["exposed_at"].to_numpy(np.int64)
    variation, values, first_at = phase.metric_rows(event_id)
    start, end = int(exposed_at.min()), int(exposed_at.max())
    if first_at.size:
        end = max(end, int(first_at.max()))
    step = HOUR if end - start <= 3 * DAY else DAY
    step = max(step, math.ceil((end - start + 1) / MAX_POINTS / step) * step)
    edges = np.arange(start - start % step + step, end + step + 1, step)
    k = len(phase.counts)
    slots = (len(edges), k)
    n = np.zeros(slots, np.int64)
    np.add.at(
        n,
        (np.searchsorted(edges, exposed_at), users["variation"].to_numpy(np.int64)),
        1,
    )
    c = np.zeros(slots, np.int64)
    at = np.searchsorted(edges, first_at)
    np.add.at(c, (at, variation), 1)
    if cap is not None:
        values = np.minimum(values, cap)
    # Values shifted by their mean, so the cumulative sums keep their precision.
    shift = float(values.mean()) if values.size else 0.0
    s = np.zeros(slots)
    q = np.zeros(slots)
    np.add.at(s, (at, variation), values - shift)
    np.add.at(q, (at, variation), (values - shift) ** 2)
    n, c, s, q = n.cumsum(0), c.cumsum(0), s.cumsum(0), q.cumsum(0)
    tuning = float(settings.planned_users)
    points: list[TimePoint] = []
    for j, t in enumerate(edges):
        if metric.type == "conversion":
            summaries = [
                stats.Summary.of_counts(int(c[j, i]), int(n[j, i])) for i in range(k)
            ]
        else:
            summaries = [
                _shifted(int(n[j, i]), int(c[j, i]), s[j, i], q[j, i], shift)
                for i in range(k)
            ]
        lifts: list[LiftPoint] = []
        for i in range(1, k):
            cmp = stats.compare(
                summaries[0],
                summaries[i],
                metric.type,
                alpha=settings.alpha,
                tuning=tuning,
                nonnegative=data.nonnegative,
            )
            lifts.append(
                {
                    "abs_lift": _clean(cmp.abs_lift),
                    "abs_ci_sequential": _pair(cmp.abs_ci_sequential),
                    "rel_lift": _clean(cmp.rel_lift),
                    "rel_ci_sequential": _pair(cmp.rel_ci_sequential),
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
    return {"event": metric.event, "type": metric.type, "step": step, "points": points}


def _shifted(n: int, rows: int, s: float, q: float, shift: float) -> stats.Summary:
    """A value summary from sums of (value - shift) over the ``rows`` users with
    the event; the other ``n - rows`` users have value 0, i.e. -shift."""
    if n == 0:
        return stats.Summary(0, 0.0, 0.0)
    zeros = n - rows
    total = s - zeros * shift  # sum of (x - shift) over all n users
    mean_shifted = total / n
    squares = q + zeros * shift * shift
    var = (
        max((squares - n * mean_shifted * mean_shifted) / (n - 1), 0.0)
        if n > 1
        else 0.0
    )
    return stats.Summary(n, mean_shifted + shift, var)


def compute(
    exp: Experiment,
    agg: Aggregates,
    names: Mapping[int, str],
    now: float,
    *,
    phase: int | None = None,
) -> ExperimentResult:
    """All numbers for one phase (None: the current one) of one experiment."""
    agg.finish()
    chosen = select_phase(exp, phase)
    data = PhaseData.of(exp, agg, chosen)
    settings = exp.analysis
    ids = {name: i for i, name in names.items()}
    counts = [int(x) for x in data.counts]
    srm_p = sequential.srm_sequential_p_value(counts, list(chosen.weights))
    srm = bool(srm_p < sequential.SRM_THRESHOLD)
    metrics = metrics_of(exp, names, agg.pairs)
    built = [metric_data(m, data, ids.get(m.event)) for m in metrics]
    found = verdict.evaluate(
        exp.variations, [b[0] for b in built], settings, counts, srm=srm
    )
    results = [
        _metric_result(ev, exp.variations, conv, cap, settings)
        for ev, (_, conv, cap) in zip(found.metrics, built, strict=True)
    ]
    lead = next((i for i, m in enumerate(metrics) if m.role == "primary"), 0)
    if built:
        series = _timeseries(
            built[lead][0], data, ids.get(metrics[lead].event), built[lead][2], settings
        )
    else:
        series = {"event": None, "points": []}
    users = agg.users[~agg.users["multi"].to_numpy(bool)]
    boundary = int((phase_of(exp, users["exposed_at"].to_numpy(np.int64)) < 0).sum())
    multi = len(agg.users) - len(users)
    return {
        "key": exp.key,
        "name": exp.name or exp.key,
        "status": exp.status,
        "generated_at": now,
        "variations": list(exp.variations),
        "phase": {
            "index": chosen.index,
            "count": chosen.count,
            "started_at": chosen.started_at,
            "ended_at": chosen.ended_at,
            "weights": list(chosen.weights),
        },
        "settings": asdict(settings),
        "participants": dict(zip(exp.variations, counts, strict=True)),
        "excluded": {
            "multiple_variations": multi,
            "phase_boundary": boundary,
            "unattributed_events": int(agg.unattributed),
        },
        "srm_p_value": _clean(srm_p),
        "srm_warning": srm,
        "records_analysed": agg.position,
        "decision": {
            "state": found.decision.state,
            "variation": found.decision.variation,
            "summary": found.decision.summary,
        },
        "metrics": results,
        "timeseries": series,
    }
