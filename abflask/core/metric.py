"""An experiment's metrics and analysis settings: the values and their parsing.

Pure: no I/O. ``parse_metrics`` and ``parse_analysis`` check request JSON and
raise ``ValidationError`` naming the exact path (``metrics[1].margin``,
``analysis.alpha``); the ``from_stored`` functions rebuild what ``to_dict``
wrote without checking it again, so tightening a rule never hides an
experiment that is already stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from abflask.core.fields import (
    as_float,
    check_fields,
    fail,
    number,
    parse_event_key,
)

ROLES = ("primary", "secondary", "guardrail")
"""What a metric is for: the decision (primary), information (secondary), or
a check that the treatment does no harm (guardrail, tested one-sided)."""
TYPES = ("conversion", "value")
DIRECTIONS = ("higher", "lower")
MODES = ("sequential", "fixed")
CORRECTIONS = ("holm", "bh")

MAX_METRICS = 50
"""Metrics per experiment."""
MAX_WINDOW = 366 * 86_400
"""Longest conversion window, in seconds (366 days)."""
MIN_CAP_PERCENTILE = 0.5
"""Lowest percentile a value metric may be capped at (a share, 0.5 = median)."""


@dataclass(frozen=True)
class Metric:
    """One metric of an experiment: an event key read one way.

    ``type`` "conversion" is the share of participants who did the event at
    least once; "value" is the mean per participant of the event's summed
    ``value`` (0 for participants without the event). ``direction`` says which
    way is better. ``margin`` (guardrails only) is the non-inferiority margin
    relative to the control mean: 0.02 tolerates a 2% degradation; ``None``
    tolerates none. ``cap`` winsorises per-user totals of a value metric at a
    fixed value, ``cap_percentile`` at that percentile (0.5 to below 1) of the
    pooled per-user totals of the analysed phase. ``window`` counts only
    events within that many seconds after the user's first exposure.

    >>> Metric("purchase").type
    'conversion'
    >>> Metric("refunds", role="guardrail", direction="lower", margin=0.01).margin
    0.01
    """

    event: str
    type: str = "conversion"
    role: str = "primary"
    direction: str = "higher"
    margin: float | None = None
    cap: float | None = None
    cap_percentile: float | None = None
    window: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, always (``None`` as null)."""
        return asdict(self)


METRIC_FIELDS = {f.name for f in fields(Metric)}


@dataclass(frozen=True)
class AnalysisSettings:
    """How an experiment is analysed; every field has a default.

    ``alpha`` is the two-sided significance level; ``power`` and ``mde`` (a
    relative minimum detectable effect) size ``users_needed``;
    ``planned_users`` is the total number of users (all variations) of a
    phase that the sequential test is tuned for (N*); ``mode`` "fixed" is a
    pre-registered fixed-horizon test whose verdict waits for
    ``planned_users``; ``correction`` is "holm" or "bh" (Benjamini-Hochberg);
    ``min_sample`` is the participants each variation needs before a metric
    can be called better or worse.

    >>> AnalysisSettings(alpha=0.01, mode="fixed").planned_users
    10000
    """

    alpha: float = 0.05
    power: float = 0.8
    mde: float = 0.05
    planned_users: int = 10_000
    mode: str = "sequential"
    correction: str = "holm"
    min_sample: int = 150

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, always."""
        return asdict(self)


ANALYSIS_FIELDS = {f.name for f in fields(AnalysisSettings)}


def _choice(raw: Any, path: str, choices: tuple[str, ...], default: str) -> str:
    if raw is None:
        return default
    if not isinstance(raw, str) or raw not in choices:
        raise fail(path, "must be one of " + ", ".join(choices))
    return raw


def _whole(raw: Any, path: str, low: int, high: int) -> int:
    """A JSON integer (not a boolean, not 1.0) within [low, high]."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise fail(path, f"must be a whole number from {low} to {high}")
    return raw


def _below(raw: Any, path: str, low: float, high: float) -> float:
    """A finite JSON number (not a boolean) in [low, high)."""
    value = number(raw, path, low, high)
    if value >= high:
        raise fail(path, f"must be at least {low:g} and below {high:g}")
    return value


def _positive(raw: Any, path: str) -> float:
    """A finite JSON number (not a boolean) above 0."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise fail(path, "must be a number")
    value = as_float(raw)
    if not math.isfinite(value) or value <= 0.0:
        raise fail(path, "must be a finite number above 0")
    return value


def _metric(raw: Any, index: int) -> Metric:
    """One entry of ``metrics``: an event key, or an object with ``event``."""
    path = f"metrics[{index}]"
    default_role = "primary" if index == 0 else "secondary"
    if isinstance(raw, str):
        return Metric(event=parse_event_key(raw, path), role=default_role)
    if not isinstance(raw, dict):
        raise fail(path, 'must be an event key or an object with "event"')
    body = check_fields(raw, METRIC_FIELDS, path)
    event = parse_event_key(body.get("event"), f"{path}.event")
    kind = _choice(body.get("type"), f"{path}.type", TYPES, "conversion")
    role = _choice(body.get("role"), f"{path}.role", ROLES, default_role)
    direction = _choice(
        body.get("direction"), f"{path}.direction", DIRECTIONS, "higher"
    )
    margin = body.get("margin")
    if margin is not None:
        if role != "guardrail":
            raise fail(f"{path}.margin", "is only for a guardrail metric")
        margin = _below(margin, f"{path}.margin", 0.0, 1.0)
    cap, percentile = body.get("cap"), body.get("cap_percentile")
    for name, given in (("cap", cap), ("cap_percentile", percentile)):
        if given is not None and kind != "value":
            raise fail(f"{path}.{name}", 'is only for a metric of type "value"')
    if cap is not None and percentile is not None:
        raise fail(f"{path}.cap_percentile", "give cap or cap_percentile, not both")
    if cap is not None:
        cap = _positive(cap, f"{path}.cap")
    if percentile is not None:
        percentile = _below(
            percentile, f"{path}.cap_percentile", MIN_CAP_PERCENTILE, 1.0
        )
    window = body.get("window")
    if window is not None:
        window = _whole(window, f"{path}.window", 1, MAX_WINDOW)
    return Metric(event, kind, role, direction, margin, cap, percentile, window)


def parse_metrics(raw: Any) -> tuple[Metric, ...]:
    """Validate an experiment's ``metrics``: a list of entries (null: none).

    Each entry is an event key (shorthand for an object with defaults) or an
    object with the fields of ``Metric``, only ``event`` required; a null
    field takes its default. ``role`` defaults to "primary" for the first
    entry and "secondary" for the others. Event keys are unique.

    >>> [m.role for m in parse_metrics(["purchase", {"event": "refund"}])]
    ['primary', 'secondary']
    """
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_METRICS:
        raise fail("metrics", f"must be a list of at most {MAX_METRICS} metrics")
    metrics = tuple(_metric(entry, i) for i, entry in enumerate(raw))
    seen: set[str] = set()
    for i, metric in enumerate(metrics):
        if metric.event in seen:
            path = f"metrics[{i}]" if isinstance(raw[i], str) else f"metrics[{i}].event"
            raise fail(path, f"{metric.event!r} is already a metric")
        seen.add(metric.event)
    return metrics


def parse_analysis(raw: Any) -> AnalysisSettings:
    """Validate an experiment's ``analysis`` object (null or absent fields:
    the defaults of ``AnalysisSettings``)."""
    if raw is None:
        return AnalysisSettings()
    body = check_fields(raw, ANALYSIS_FIELDS, "analysis")
    given = {k: v for k, v in body.items() if v is not None}
    checks: dict[str, Any] = {
        "alpha": lambda v: number(v, "analysis.alpha", 0.001, 0.2),
        "power": lambda v: number(v, "analysis.power", 0.5, 0.99),
        "mde": lambda v: number(v, "analysis.mde", 0.001, 10.0),
        "planned_users": lambda v: _whole(v, "analysis.planned_users", 100, 10**10),
        "mode": lambda v: _choice(v, "analysis.mode", MODES, "sequential"),
        "correction": lambda v: _choice(v, "analysis.correction", CORRECTIONS, "holm"),
        "min_sample": lambda v: _whole(v, "analysis.min_sample", 1, 10**6),
    }
    return AnalysisSettings(**{name: checks[name](v) for name, v in given.items()})


def metrics_from_stored(raw: Any) -> tuple[Metric, ...]:
    """Rebuild stored ``metrics`` (written by ``to_dict``) without checking them.

    Experiments stored before metrics were objects hold event keys; they read
    as the shorthand does (the first primary, the others secondary).
    """
    return tuple(
        Metric(event=m, role="primary" if i == 0 else "secondary")
        if isinstance(m, str)
        else Metric(**{k: v for k, v in m.items() if k in METRIC_FIELDS})
        for i, m in enumerate(raw or ())
    )


def analysis_from_stored(raw: Mapping[str, Any] | None) -> AnalysisSettings:
    """Rebuild stored ``analysis`` settings; missing fields (or all): defaults."""
    known = {k: v for k, v in (raw or {}).items() if k in ANALYSIS_FIELDS}
    return AnalysisSettings(**known)
