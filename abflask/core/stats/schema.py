"""The JSON shape of a result, as TypedDicts: the job's and the live one.

The analysis job builds an ``ExperimentResult`` from the event log and stores
it in Redis (served by ``GET /experiments/<key>/results``); the service builds
the same shape from the live counters (``?live=1``). The reports, the
dashboard and the README's "Analysis" section describe and format it. Types
only.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

Interval = list[float | None]
"""``[low, high]``; None where undefined (or unbounded)."""


class ComparisonResult(TypedDict):
    """A treatment against control on one type (conversion or value); all None
    on the control row. ``*_adjusted`` exist only for the type the metric is
    tested on, and not for guardrails (they are not in the family)."""

    abs_lift: float | None
    abs_ci: Interval | None
    rel_lift: float | None
    rel_ci: Interval | None
    p_value: float | None
    p_value_adjusted: float | None
    p_value_sequential: float | None
    p_value_sequential_adjusted: float | None
    abs_ci_sequential: Interval | None
    rel_ci_sequential: Interval | None
    state: str | None


class VariationResult(TypedDict):
    """One variation's numbers on one metric."""

    name: str
    participants: int
    converters: int
    conversion_rate: float | None
    conversion_rate_ci: Interval | None
    """Normal (Wald) interval of the rate at 1 - alpha, for plots."""
    mean: float | None
    """Mean per participant of the (capped) value."""
    mean_ci: Interval | None
    """Normal interval of the mean at 1 - alpha, for plots."""
    sd: float | None
    """Standard deviation (ddof 1) of the (capped) per-user value."""
    outcome: str | None
    """``verdict.OUTCOMES``; None on the control row."""
    harm_bound: float | None
    """Guardrails: one-sided always-valid bound of the relative change on the
    harmful side (direction-adjusted: negative is worse)."""
    conversion: ComparisonResult
    value: ComparisonResult


class MetricResult(TypedDict):
    """One metric: its definition, every variation, the verdict."""

    event: str
    type: str
    role: str
    direction: str
    margin: float | None
    cap: float | None
    cap_percentile: float | None
    window: int | None
    cap_value: float | None
    """The cap applied to per-user values in this phase (None: uncapped)."""
    nonnegative: bool
    """Every per-user total is at least 0 (relative intervals stop at -100%)."""
    source: str
    """``job`` (from the event log) or ``live`` (from the counters)."""
    note: str | None
    """Why a metric of a live result comes from the last job run, if it does."""
    variations: list[VariationResult]
    users_needed: int | None
    verdict: str


class LiftPoint(TypedDict):
    abs_lift: float | None
    abs_ci_sequential: Interval
    rel_lift: float | None
    rel_ci_sequential: Interval


class TimePoint(TypedDict):
    """Cumulative counts at ``t`` (epoch seconds), one entry per variation."""

    t: int
    participants: list[int]
    converters: list[int]
    lift: list[LiftPoint]
    """One per treatment, against control, on the metric's type."""


class TimeSeries(TypedDict):
    event: str | None
    type: NotRequired[str]
    step: NotRequired[int]
    """Seconds between points."""
    points: list[TimePoint]


class PhaseInfo(TypedDict):
    index: int
    count: int
    """Phases the experiment has had."""
    started_at: float | None
    ended_at: float | None
    weights: list[float]


class DecisionResult(TypedDict):
    state: str
    """``verdict.STATES``: ship, dont_ship, harmful, keep_running, unreliable."""
    variation: str | None
    summary: str


class Excluded(TypedDict):
    multiple_variations: int
    """Users exposed to more than one variation (left out of every number)."""
    phase_boundary: int
    """Users first exposed in the second a phase started in: they may have
    been split either way, so they belong to no phase."""
    unattributed_events: int
    """Events before their user's exposure, or outside a metric's window
    (every phase)."""


class LiveInfo(TypedDict):
    """What a live result was computed from."""

    job_generated_at: float | None
    """When the analysis job computed the result that metrics which cannot be
    counted live are taken from (None: it has not run for this phase)."""
    not_live: list[str]
    """Event keys of the metrics taken from that result (or left empty)."""
    snapshots: int
    """Per-minute counter snapshots the time series was drawn from."""


class ExperimentResult(TypedDict):
    """Everything the job computes for one phase of one experiment."""

    key: str
    name: str
    status: str
    generated_at: float
    variations: list[str]
    phase: PhaseInfo
    settings: dict[str, object]
    participants: dict[str, int]
    excluded: Excluded
    srm_p_value: float | None
    srm_warning: bool
    records_analysed: int | None
    """Event-log records the job read; None in a live result."""
    source: str
    """``job`` or ``live``."""
    live: NotRequired[LiveInfo]
    """Live results only."""
    decision: DecisionResult
    metrics: list[MetricResult]
    timeseries: TimeSeries
