"""Live results: the analysis job's numbers, computed from the live counters.

One round trip reads an experiment's counters, their per-minute snapshots
and the job's last stored result (``Store.live``); the statistics are the
job's own (``abflask.core.stats``), so for the same events the two agree to
rounding. The counters attribute events exactly as the job does (at or after
the exposure, within a window, per phase, capped at a fixed cap), so every
metric is live except:

- a metric capped at a percentile: the cap depends on every user's total,
  which counters cannot give;
- a metric whose cap or window changed after its event was first counted
  (its counters follow the first rule).

Those metrics come from the job's last result for the same phase, and say
so in their ``note``; without one they are empty. The time series of the
current phase is drawn from the snapshots, with a last point for now.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

from abflask.core.experiment import Experiment
from abflask.core.fields import fail
from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.stats.inference import Summary
from abflask.core.stats.result import (
    Lift,
    MetricInput,
    Phase,
    experiment_result,
    lead_metric,
    select_phase,
    series_lifts,
    series_point,
    time_point,
)
from abflask.core.stats.schema import (
    ExperimentResult,
    MetricResult,
    TimePoint,
    TimeSeries,
)
from abflask.service import management
from abflask.service.extension import Services
from abflask.storage.counters import (
    BOUNDARY,
    Cell,
    LiveCounts,
    Snapshot,
    counting_rule,
    current_phase,
)

MAX_POINTS = 120
"""Most points of a live time series (snapshots are picked evenly)."""
SNAPSHOT_LIFTS = 1024
"""Snapshots whose lifts are kept (per process): a snapshot never changes
once written, and the dashboard asks for the same ones every few seconds, so
only the points of new snapshots are computed (and all of them again after a
minute that shifts the even picking)."""


def live_result(
    svc: Services, key: str, phase: int | None, now: float, *, series: bool = False
) -> ExperimentResult:
    """The result of ``phase`` (None: the current one) from the live counters;
    with ``series``, its time series from the snapshots too (else only a
    point for now).

    NotFoundError for an unknown experiment; ValidationError naming
    ``phase`` for a phase it does not have.
    """
    # The worker's copy (kept fresh by change notifications) saves a round
    # trip; a key it has not seen yet is read from Redis.
    cached = svc.definitions.experiments().get(key)
    exp = cached if cached is not None else management.get_experiment(svc, key)
    return result_of(svc, exp, phase, now, series=series)


def result_of(
    svc: Services,
    exp: Experiment,
    phase: int | None,
    now: float,
    *,
    series: bool = False,
) -> ExperimentResult:
    """``live_result`` of an experiment already read."""
    try:
        chosen = select_phase(exp, phase)
    except ValueError as exc:
        raise fail("phase", str(exc)) from exc
    counts, snapshots, job = svc.store.live(exp, series=series)
    return compute(exp, chosen, counts, snapshots, job, now)


def compute(
    exp: Experiment,
    phase: Phase,
    counts: LiveCounts,
    snapshots: Sequence[Snapshot],
    job: Mapping[str, Any] | None,
    now: float,
) -> ExperimentResult:
    """``live_result`` from what ``Store.live`` read. Pure."""
    k = len(exp.variations)
    token = str(phase.index)
    current = counts.phase(token, k)
    if job is not None and (job.get("phase") or {}).get("index") != phase.index:
        job = None  # the job's last run was of another phase
    stored = {m["event"]: m for m in (job or {}).get("metrics", [])}
    metrics = list(exp.metrics) or _seen(counts)
    inputs: list[MetricInput] = []
    notes: dict[str, str] = {}
    for metric in metrics:
        reason = not_live(metric, counts)
        if reason is None:
            inputs.append(
                _counted(metric, current.cells(metric.event), current.participants)
            )
            continue
        taken = stored.get(metric.event)
        if taken is None:
            notes[metric.event] = reason + "; the analysis job has not computed it yet"
            inputs.append(_empty(metric, k))
        else:
            notes[metric.event] = reason + "; shown from the last analysis run"
            inputs.append(_from_job(metric, taken))
    lead = lead_metric(metrics)
    if metrics and metrics[lead].event in notes:
        series = cast(TimeSeries, (job or {}).get("timeseries") or _no_series(None))
        used = 0
    elif metrics:
        series, used = _series(exp, phase, inputs[lead], counts, snapshots, now)
    else:
        series, used = _no_series(None), 0
    result = experiment_result(
        exp,
        phase,
        current.participants,
        inputs,
        excluded={
            "multiple_variations": 0,  # enrollment is sticky: one variation each
            "phase_boundary": sum(counts.phase(BOUNDARY, k).participants),
            "unattributed_events": counts.unattributed,
        },
        records_analysed=None,
        series=series,
        now=now,
        source="live",
    )
    for entry in result["metrics"]:
        if entry["event"] in notes:
            entry["source"] = "job"
            entry["note"] = notes[entry["event"]]
    result["live"] = {
        "job_generated_at": job.get("generated_at") if job and notes else None,
        "not_live": list(notes),
        "snapshots": used,
    }
    return result


def not_live(metric: Metric, counts: LiveCounts) -> str | None:
    """Why ``metric`` cannot be computed from the counters, or None."""
    if metric.type == "value" and metric.cap_percentile is not None:
        return "a percentile cap needs every user's total, which counters do not keep"
    rule = counts.rules.get(metric.event)
    if rule is not None and rule != counting_rule(metric):
        return "its cap or window changed after its events began to be counted"
    return None


def _seen(counts: LiveCounts) -> list[Metric]:
    """Without declared metrics, every event key counted (sorted), each a
    primary conversion metric, as the job does."""
    seen = {
        event
        for phase in counts.phases.values()
        for event, cells in phase.events.items()
        if any(c.count for c in cells)
    }
    return [Metric(event=name) for name in sorted(seen)]


def _summaries(
    cells: Sequence[Cell], participants: Sequence[int]
) -> tuple[list[Summary], list[Summary]]:
    """Conversion and value summaries per variation from counter cells."""
    conversion = _of_type("conversion", cells, participants)
    return conversion, _of_type("value", cells, participants)


def _of_type(
    kind: str, cells: Sequence[Cell], participants: Sequence[int]
) -> list[Summary]:
    """The summaries of one ``kind`` (conversion or value) from counter cells."""
    return _of_numbers(
        kind, [(c.users, c.sum, c.sum_squares) for c in cells], participants
    )


def _of_numbers(
    kind: str,
    cells: Sequence[tuple[int, float, float]],
    participants: Sequence[int],
) -> list[Summary]:
    """``_of_type`` from each variation's users, sum and sum of squares."""
    pairs = zip(cells, participants, strict=True)
    if kind == "conversion":
        return [Summary.of_counts(users, n) for (users, _, _), n in pairs]
    return [Summary.of_sums(n, total, squares) for (_, total, squares), n in pairs]


def _counted(
    metric: Metric, cells: Sequence[Cell], participants: Sequence[int]
) -> MetricInput:
    conversion, value = _summaries(cells, participants)
    cap = float(metric.cap) if metric.type == "value" and metric.cap else None
    return MetricInput(
        metric=metric,
        conversion=conversion,
        value=value,
        converters=[c.users for c in cells],
        nonnegative=all(c.negative == 0 for c in cells),
        cap=cap,
    )


def _empty(metric: Metric, k: int) -> MetricInput:
    nothing = [Summary(0, 0.0, 0.0)] * k
    return MetricInput(metric, nothing, nothing, [0] * k, True, None)


def _from_job(metric: Metric, stored: MetricResult) -> MetricInput:
    """The summaries of a metric of the job's result (its mean and sd)."""
    conversion, value, converters = [], [], []
    for row in stored["variations"]:
        n, c = int(row["participants"]), int(row["converters"])
        conversion.append(Summary.of_counts(c, n))
        mean, sd = row.get("mean"), row.get("sd")
        value.append(
            Summary(n, float(mean), float(sd) ** 2)
            if n and mean is not None and sd is not None
            else Summary(0, 0.0, 0.0)
        )
        converters.append(c)
    return MetricInput(
        metric,
        conversion,
        value,
        converters,
        bool(stored.get("nonnegative", True)),
        stored.get("cap_value"),
    )


def _no_series(event: str | None) -> TimeSeries:
    return {"event": event, "points": []}


def _series(
    exp: Experiment,
    phase: Phase,
    lead: MetricInput,
    counts: LiveCounts,
    snapshots: Sequence[Snapshot],
    now: float,
) -> tuple[TimeSeries, int]:
    """The lead metric's cumulative series: one point per snapshot of the
    phase (at most ``MAX_POINTS``, picked evenly), then the counters now."""
    metric = lead.metric
    event_id = counts.ids.get(metric.event, 0)
    token = str(phase.index)
    if token != current_phase(exp):  # snapshots follow the current phase only
        snapshots = []
    start = -math.inf if phase.started_at is None else math.floor(phase.started_at)
    usable = [
        s
        for s in snapshots
        if s.phase == token and s.event_id in (event_id, 0) and s.t >= start
    ]
    picked = _evenly(usable, MAX_POINTS - 1)
    settings = exp.analysis
    points: list[TimePoint] = []
    for snap in picked:
        cells = snap.cells
        lifts = _snapshot_lifts(
            metric,
            settings,
            tuple(snap.participants),
            tuple([(c.users, c.sum, c.sum_squares) for c in cells]),
            all(c.negative == 0 for c in cells),
        )
        points.append(
            time_point(snap.t, snap.participants, [c.users for c in cells], lifts)
        )
    own = lead.conversion if metric.type == "conversion" else lead.value
    points.append(
        series_point(
            int(now),
            [s.n for s in lead.conversion],
            list(lead.converters),
            own,
            metric,
            settings,
            lead.nonnegative,
        )
    )
    return {"event": metric.event, "type": metric.type, "points": points}, len(picked)


@lru_cache(maxsize=SNAPSHOT_LIFTS)
def _snapshot_lifts(
    metric: Metric,
    settings: AnalysisSettings,
    participants: tuple[int, ...],
    cells: tuple[tuple[int, float, float], ...],
    nonnegative: bool,
) -> tuple[Lift, ...]:
    """The lifts of a snapshot's point (memoised), from its participants and
    each variation's users, sum and sum of squares (plain numbers, so the key
    is hashed and compared quickly)."""
    own = _of_numbers(metric.type, cells, participants)
    return series_lifts(own, metric, settings, nonnegative)


def _evenly(items: Sequence[Snapshot], most: int) -> list[Snapshot]:
    """At most ``most`` of ``items``, evenly spaced, keeping the last."""
    if len(items) <= most:
        return list(items)
    step = len(items) / most
    return [items[len(items) - 1 - int(i * step)] for i in reversed(range(most))]
