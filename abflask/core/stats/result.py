"""From per-variation summaries to one phase's result: numbers and the decision.

Pure: stdlib only, no I/O. The analysis job (summaries from the event log,
with numpy) and the service (summaries from the live counters) both call
``experiment_result`` with one ``MetricInput`` per metric: it tests the
sample ratio, lets ``verdict.evaluate`` decide, and returns the JSON-ready
dict typed by ``schema.ExperimentResult`` (the README's "Analysis" shows it).
``series_point`` is one point of the cumulative time series, the same for
both. The reports only format the result; they compute nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.stats import sequential, verdict
from abflask.core.stats.distributions import normal_quantile
from abflask.core.stats.inference import Comparison, Summary, compare
from abflask.core.stats.schema import (
    ComparisonResult,
    Excluded,
    ExperimentResult,
    Interval,
    MetricResult,
    TimePoint,
    TimeSeries,
    VariationResult,
)

__all__ = [
    "NULL_COMPARISON",
    "Lift",
    "MetricInput",
    "Phase",
    "experiment_result",
    "lead_metric",
    "select_phase",
    "series_lifts",
    "series_point",
    "time_point",
]

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
"""The comparison of the control row, and of a type nothing was computed on."""


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _pair(x: tuple[float, float]) -> Interval:
    low, high = x
    isfinite = math.isfinite
    return [
        float(low) if isfinite(low) else None,
        float(high) if isfinite(high) else None,
    ]


_METRIC_FIELDS = tuple(f.name for f in fields(Metric))
_SETTINGS_FIELDS = tuple(f.name for f in fields(AnalysisSettings))


def _metric_fields(metric: Metric) -> dict[str, Any]:
    """``metric.to_dict()`` (every field is a plain value), without the deep
    copy ``dataclasses.asdict`` makes of each."""
    return {name: getattr(metric, name) for name in _METRIC_FIELDS}


def _settings_fields(settings: AnalysisSettings) -> dict[str, Any]:
    """``asdict(settings)``, likewise."""
    return {name: getattr(settings, name) for name in _SETTINGS_FIELDS}


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


@dataclass(frozen=True)
class MetricInput:
    """One metric's per-variation numbers, control first.

    ``conversion``: ``Summary.of_counts`` per variation; ``value``: the
    per-user value totals (capped with ``cap``, None: uncapped) per
    variation; ``converters``: participants with the event per variation;
    ``nonnegative``: no per-user total is below 0.
    """

    metric: Metric
    conversion: Sequence[Summary]
    value: Sequence[Summary]
    converters: Sequence[int]
    nonnegative: bool
    cap: float | None

    def data(self) -> verdict.MetricData:
        """What ``verdict.evaluate`` reads."""
        return verdict.MetricData(
            self.metric, self.conversion, self.value, self.nonnegative
        )


def lead_metric(metrics: Sequence[Metric]) -> int:
    """The index of the metric the time series follows: the first primary, else 0."""
    return next((i for i, m in enumerate(metrics) if m.role == "primary"), 0)


def _comparison(
    cmp: Comparison, adjusted: float | None, adjusted_seq: float | None
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


def _rate_interval(s: Summary, z: float) -> Interval | None:
    """mean ± z·sqrt(var/n): the Wald interval of a rate, or a mean's."""
    if s.n == 0:
        return None
    half = z * math.sqrt(s.var / s.n)
    return [_clean(s.mean - half), _clean(s.mean + half)]


def _metric_result(
    ev: verdict.MetricEvaluation,
    given: MetricInput,
    variations: Sequence[str],
    settings: AnalysisSettings,
    source: str,
) -> MetricResult:
    z = normal_quantile(1 - settings.alpha / 2)
    data, metric = ev.data, ev.metric
    rows: list[VariationResult] = []
    for i, name in enumerate(variations):
        conv, val = data.conversion[i], data.value[i]
        row: VariationResult = {
            "name": name,
            "participants": conv.n,
            "converters": int(given.converters[i]),
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
        **_metric_fields(metric),  # type: ignore[typeddict-item]
        "cap_value": given.cap,
        "nonnegative": data.nonnegative,
        "source": source,
        "note": None,
        "variations": rows,
        "users_needed": ev.users_needed,
        "verdict": ev.verdict,
    }


Lift = tuple[
    float | None, float | None, float | None, float | None, float | None, float | None
]
"""One treatment's lift against control at a point of the time series, as
``LiftPoint`` shows it: ``(abs_lift, abs_low, abs_high, rel_lift, rel_low,
rel_high)``, the bands always-valid (None for an undefined number)."""


def series_lifts(
    summaries: Sequence[Summary],
    metric: Metric,
    settings: AnalysisSettings,
    nonnegative: bool,
) -> tuple[Lift, ...]:
    """Each treatment's lift against control with its always-valid band, as
    in the table: the numbers of ``series_point``'s ``lift``, as tuples (a
    caller may keep them; ``summaries`` and ``nonnegative`` as there)."""
    nonnegative = nonnegative or metric.type == "conversion"
    lifts: list[Lift] = []
    for treatment in summaries[1:]:
        cmp = compare(
            summaries[0],
            treatment,
            metric.type,
            alpha=settings.alpha,
            tuning=float(settings.planned_users),
            nonnegative=nonnegative,
            tests=False,  # the series shows lifts and always-valid bands only
        )
        abs_low, abs_high = _pair(cmp.abs_ci_sequential)
        rel_low, rel_high = _pair(cmp.rel_ci_sequential)
        abs_lift, rel_lift = _clean(cmp.abs_lift), _clean(cmp.rel_lift)
        lifts.append((abs_lift, abs_low, abs_high, rel_lift, rel_low, rel_high))
    return tuple(lifts)


def time_point(
    t: int,
    participants: Sequence[int],
    converters: Sequence[int],
    lifts: Sequence[Lift],
) -> TimePoint:
    """The point of the time series at ``t`` with these counts and lifts
    (new lists and dicts: the caller may change them)."""
    return {
        "t": int(t),
        "participants": [int(x) for x in participants],
        "converters": [int(x) for x in converters],
        "lift": [
            {
                "abs_lift": abs_lift,
                "abs_ci_sequential": [abs_low, abs_high],
                "rel_lift": rel_lift,
                "rel_ci_sequential": [rel_low, rel_high],
            }
            for abs_lift, abs_low, abs_high, rel_lift, rel_low, rel_high in lifts
        ],
    }


def series_point(
    t: int,
    participants: Sequence[int],
    converters: Sequence[int],
    summaries: Sequence[Summary],
    metric: Metric,
    settings: AnalysisSettings,
    nonnegative: bool,
) -> TimePoint:
    """One point of the cumulative time series at ``t`` (epoch seconds).

    ``summaries`` are the variations' summaries of the metric's own type up to
    ``t`` (control first); each treatment's lift against control comes with
    its always-valid band, as in the table (``nonnegative``: no per-user
    value total is below 0; conversions are never below 0).
    """
    lifts = series_lifts(summaries, metric, settings, nonnegative)
    return time_point(t, participants, converters, lifts)


def experiment_result(
    exp: Experiment,
    phase: Phase,
    counts: Sequence[int],
    metrics: Sequence[MetricInput],
    *,
    excluded: Excluded,
    records_analysed: int | None,
    series: TimeSeries,
    now: float,
    source: str = "job",
) -> ExperimentResult:
    """The result of one phase from its summaries: SRM, verdicts, decision.

    ``counts``: the phase's participants per variation (control first);
    ``metrics``: one ``MetricInput`` per metric of the experiment, in order;
    ``series``: the lead metric's time series (``series_point``), already
    built; ``source``: "job" (from the event log) or "live" (from the
    counters), written to the result and to each metric.
    """
    settings = exp.analysis
    counts = [int(x) for x in counts]
    srm_p = sequential.srm_sequential_p_value(counts, list(phase.weights))
    srm = bool(srm_p < sequential.SRM_THRESHOLD)
    found = verdict.evaluate(
        exp.variations, [m.data() for m in metrics], settings, counts, srm=srm
    )
    results = [
        _metric_result(ev, given, exp.variations, settings, source)
        for ev, given in zip(found.metrics, metrics, strict=True)
    ]
    return {
        "key": exp.key,
        "name": exp.name or exp.key,
        "status": exp.status,
        "generated_at": now,
        "variations": list(exp.variations),
        "phase": {
            "index": phase.index,
            "count": phase.count,
            "started_at": phase.started_at,
            "ended_at": phase.ended_at,
            "weights": list(phase.weights),
        },
        "settings": _settings_fields(settings),
        "participants": dict(zip(exp.variations, counts, strict=True)),
        "excluded": excluded,
        "srm_p_value": _clean(srm_p),
        "srm_warning": srm,
        "records_analysed": records_analysed,
        "source": source,
        "decision": {
            "state": found.decision.state,
            "variation": found.decision.variation,
            "summary": found.decision.summary,
        },
        "metrics": results,
        "timeseries": series,
    }
