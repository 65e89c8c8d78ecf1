"""From per-user aggregates to one phase's summaries, and the result.

The job's numpy half: ``compute`` picks the phase's participants (first
exposed while the phase ran, exposed to one variation only), sums each metric
per participant (attributed events only, capped if the metric says so) into
per-variation summaries and cumulative time-series sums, and hands them to
``abflask.core.stats.result``, which the service shares: the verdicts, the
decision and every number of the JSON (``schema.ExperimentResult``) come
from there. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from abflask.analysis import moments
from abflask.analysis.aggregate import Aggregates
from abflask.core.experiment import Experiment
from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.stats.inference import Summary
from abflask.core.stats.result import (
    MetricInput,
    Phase,
    experiment_result,
    lead_metric,
    select_phase,
    series_point,
)
from abflask.core.stats.schema import ExperimentResult, TimePoint, TimeSeries

MAX_POINTS = 200
"""Most points of a time series."""
HOUR, DAY = 3600, 86400
"""Seconds."""


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


def metric_input(
    metric: Metric, rows: MetricRows, counts: npt.NDArray[np.int64]
) -> MetricInput:
    """One metric's summaries per variation, as core's result takes them."""
    k = len(counts)
    converters = np.bincount(rows.variation, minlength=k)[:k].astype(np.int64)
    conversion = [
        Summary.of_counts(int(converters[i]), int(counts[i])) for i in range(k)
    ]
    value = moments.of_groups(rows.variation, rows.values, counts)
    nonnegative = bool(rows.values.size == 0 or rows.values.min() >= 0.0)
    return MetricInput(
        metric, conversion, value, [int(c) for c in converters], nonnegative, rows.cap
    )


def _timeseries(
    given: MetricInput,
    phase: PhaseData,
    rows: MetricRows,
    settings: AnalysisSettings,
) -> TimeSeries:
    """Cumulative participants, converters and lift with the sequential band.

    The same participants, attribution and cap as the table, so the last
    point equals the table's numbers; each point is ``series_point``'s, as
    the service's live points are.
    """
    metric = given.metric
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
    points: list[TimePoint] = []
    for j, t in enumerate(edges):
        if metric.type == "conversion":
            summaries = [
                Summary.of_counts(int(c[j, i]), int(n[j, i])) for i in range(k)
            ]
        else:
            summaries = [
                _shifted(
                    int(n[j, i]), int(c[j, i]), float(s[j, i]), float(q[j, i]), shift
                )
                for i in range(k)
            ]
        points.append(
            series_point(
                int(t),
                n[j].tolist(),
                c[j].tolist(),
                summaries,
                metric,
                settings,
                given.nonnegative,
            )
        )
    return {"event": metric.event, "type": metric.type, "step": step, "points": points}


def _shifted(n: int, rows: int, s: float, q: float, shift: float) -> Summary:
    """A value summary from sums of (value - shift) over the ``rows`` users with
    the event; the other ``n - rows`` users have value 0, i.e. -shift."""
    zeros = n - rows
    shifted = Summary.of_sums(n, s - zeros * shift, q + zeros * shift * shift)
    if n == 0:
        return shifted
    return Summary(shifted.n, shifted.mean + shift, shifted.var)


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
    ids = {name: i for i, name in names.items()}
    metrics = metrics_of(exp, names, agg.pairs)
    rows = [data.metric_rows(m, ids.get(m.event)) for m in metrics]
    given = [
        metric_input(m, r, data.counts) for m, r in zip(metrics, rows, strict=True)
    ]
    if given:
        lead = lead_metric(metrics)
        series = _timeseries(given[lead], data, rows[lead], exp.analysis)
    else:
        series = {"event": None, "points": []}
    return experiment_result(
        exp,
        chosen,
        [int(x) for x in data.counts],
        given,
        excluded={
            "multiple_variations": data.multi,
            "phase_boundary": data.boundary,
            "unattributed_events": int(agg.unattributed),
        },
        records_analysed=agg.position,
        series=series,
        now=now,
    )
