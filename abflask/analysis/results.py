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
from abflask.core.experiment import Experiment
from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.stats.schema import (
    ComparisonResult,
    ExperimentResult,
    Interval,
    LiftPoint,
    MetricResult,
    TimePoint,
    TimeSeries,
    VariationResult,
)

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
    phases = exp.phases
    if not phases:
        if index not in (None, 0):
            raise ValueError(f"phase {index} does not exist; the experiment has one")
        return Phase(0, 1, None, None, exp.effective_weights)
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
class MetricRows:
    """One metric's participants with the event: variation, value total (capped
    when the metric says so) and first time; ``cap`` the cap applied."""

    variation: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    first_at: npt.NDArray[np.int64]
    cap: float | None


@dataclass(frozen=True)
class PhaseData:
    """The phase's participants and, per metric, each participant's total.

    ``users``: the participants (index user) with ``variation`` and
    ``exposed_at``; ``counts`` participants per variation. ``multi`` (users
    exposed to several variations) and ``boundary`` (first exposed in the
    second a later phase started) count the users left out of every phase.
    """

    users: pd.DataFrame
    pairs: pd.DataFrame
    counts: npt.NDArray[np.int64]
    multi: int
    boundary: int

    @classmethod
    def of(cls, exp: Experiment, agg: Aggregates, phase: Phase) -> PhaseData:
        users = agg.users[~agg.users["multi"].to_numpy(bool)]
        phases = phase_of(exp, users["exposed_at"].to_numpy(np.int64))
        multi, boundary = len(agg.users) - len(users), int((phases < 0).sum())
        users = users[phases == phase.index]
        pairs = agg.pairs[agg.pairs["user"].isin(users.index)]
        k = len(exp.variations)
        counts = np.bincount(users["variation"].to_numpy(np.int64), minlength=k)[:k]
        return cls(users, pairs, counts.astype(np.int64), multi, boundary)

    def metric_rows(self, metric: Metric, event_id: int | None) -> MetricRows:
        """The rows of ``metric`` (event ``event_id``), capped once here."""
        if event_id is None:
            empty = np.empty(0, np.int64)
            return MetricRows(empty, np.empty(0), empty, None)
        pairs = self.pairs[self.pairs["event"] == event_id]
        users = pairs["user"].to_numpy()
        values = pairs["value"].to_numpy(np.float64)
        cap = cap_value(metric, values, int(self.counts.sum()))
        return MetricRows(
            self.users["variation"].reindex(users).to_numpy(np.int64),
            values if cap is None else np.minimum(values, cap),
            pairs["first_at"].to_numpy(np.int64),
            cap,
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
    metric: Metric, rows: MetricRows, counts: npt.NDArray[np.int64]
) -> tuple[verdict.MetricData, npt.NDArray[np.int64]]:
    """One metric's summaries, and converters per variation."""
    k = len(counts)
    converters = np.bincount(rows.variation, minlength=k)[:k].astype(np.int64)
    conversion = [
        stats.Summary.of_counts(int(converters[i]), int(counts[i])) for i in range(k)
    ]
    value = stats.Summary.of_groups(rows.variation, rows.values, counts)
    nonnegative = bool(rows.values.size == 0 or rows.values.min() >= 0.0)
    return verdict.MetricData(metric, conversion, value, nonnegative), converters


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
            "sd": _clean(math.sqrt(val.var)) if val.n else None,
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
        "nonnegative": ev.data.nonnegative,
        "source": "job",
        "note": None,
        "variations": rows,
        "users_needed": ev.users_needed,
        "verdict": ev.verdict,
    }


def _timeseries(
    data: verdict.MetricData,
    phase: PhaseData,
    rows: MetricRows,
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
    variation, values, first_at = rows.variation, rows.values, rows.first_at
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
    rows = [data.metric_rows(m, ids.get(m.event)) for m in metrics]
    built = [metric_data(m, r, data.counts) for m, r in zip(metrics, rows, strict=True)]
    found = verdict.evaluate(
        exp.variations, [b[0] for b in built], settings, counts, srm=srm
    )
    results = [
        _metric_result(ev, exp.variations, conv, r.cap, settings)
        for ev, (_, conv), r in zip(found.metrics, built, rows, strict=True)
    ]
    lead = next((i for i, m in enumerate(metrics) if m.role == "primary"), 0)
    if built:
        series = _timeseries(built[lead][0], data, rows[lead], settings)
    else:
        series = {"event": None, "points": []}
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
            "multiple_variations": data.multi,
            "phase_boundary": data.boundary,
            "unattributed_events": int(agg.unattributed),
        },
        "srm_p_value": _clean(srm_p),
        "srm_warning": srm,
        "records_analysed": agg.position,
        "source": "job",
        "decision": {
            "state": found.decision.state,
            "variation": found.decision.variation,
            "summary": found.decision.summary,
        },
        "metrics": results,
        "timeseries": series,
    }
