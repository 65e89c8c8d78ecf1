"""What each page shows, gathered and shaped for the templates.

The pages read through ``management`` (definitions, 404s) and the Store's
read methods (live counters, the analysis job's stored results); numbers stay
numbers here and the templates format them (``format``). Which of the job's
numbers a table shows follows the experiment's analysis ``mode``: in
``sequential`` mode (the default) the always-valid interval and p-value, which
stay valid however often the page is looked at; in ``fixed`` mode the
fixed-horizon ones. Adjusted p-values are shown where the job computed them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.flag import Flag
from abflask.core.metric import parse_metrics
from abflask.service import management
from abflask.service.extension import Services


@dataclass(frozen=True)
class Row:
    """One variation of a metric table (raw numbers; None is shown as —)."""

    name: str
    participants: Any
    rate: Any
    rate_ci: Any
    lift: Any
    interval: Any
    p_value: Any
    outcome: Any
    control: bool


@dataclass(frozen=True)
class MetricTable:
    """One metric of the stored results, as the experiment page shows it."""

    event: str
    type: str
    role: str
    direction: str
    verdict: str
    users_needed: Any
    rows: list[Row]

    @property
    def rate_heading(self) -> str:
        if self.type == "conversion":
            return "Conversion rate"
        return "Mean per participant"


@dataclass(frozen=True)
class Results:
    """The analysis job's last run for an experiment."""

    raw: Mapping[str, Any]
    tables: list[MetricTable]

    @property
    def decision(self) -> Mapping[str, Any]:
        found = self.raw.get("decision")
        return found if isinstance(found, Mapping) else {}

    @property
    def state(self) -> str:
        return str(self.decision.get("state") or "none")

    @property
    def sequential(self) -> bool:
        settings = self.raw.get("settings") or {}
        return bool(settings.get("mode", "sequential") != "fixed")

    @property
    def confidence(self) -> Any:
        settings = self.raw.get("settings") or {}
        alpha = settings.get("alpha")
        return 1 - alpha if isinstance(alpha, int | float) else None


@dataclass(frozen=True)
class ExperimentRow:
    """One line of the list: the definition, live counts and the last verdict."""

    experiment: Experiment
    participants: list[tuple[str, int]]
    results: Mapping[str, Any] | None

    @property
    def state(self) -> str:
        decision = (self.results or {}).get("decision") or {}
        return str(decision.get("state") or "none")

    @property
    def srm_warning(self) -> bool:
        return bool((self.results or {}).get("srm_warning"))


@dataclass(frozen=True)
class ExperimentPage:
    """Everything the experiment page shows."""

    experiment: Experiment
    participants: list[tuple[str, int]]
    results: Results | None
    phase_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def live_participants(counts: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``(variation, participants)`` from ``Store.counters``."""
    return [(v["name"], int(v["participants"])) for v in counts.get("variations", [])]


def overview(svc: Services) -> tuple[list[ExperimentRow], list[Flag]]:
    """The list page: every experiment with its counts and last verdict; every flag."""
    rows = [
        ExperimentRow(
            exp, live_participants(svc.store.counters(exp)), svc.store.results(exp.key)
        )
        for exp in management.list_experiments(svc)
    ]
    return rows, management.list_flags(svc)


def experiment_page(svc: Services, key: str) -> ExperimentPage:
    """One experiment (404 if missing) with live counts and its stored results."""
    exp = management.get_experiment(svc, key)
    stored = svc.store.results(exp.key)
    results = shape_results(stored) if stored is not None else None
    note = ""
    if results is not None and exp.phases:
        phase = results.raw.get("phase") or {}
        index = phase.get("index")
        if isinstance(index, int) and index != len(exp.phases) - 1:
            note = (
                f"These numbers are for phase {index + 1}; phase "
                f"{len(exp.phases)} began since. The next analysis run covers it."
            )
    return ExperimentPage(
        exp, live_participants(svc.store.counters(exp)), results, note
    )


def live(svc: Services, key: str) -> dict[str, Any]:
    """The live counts the page's script polls for."""
    counts = management.describe_experiment(svc, key)["counts"]
    return {
        "key": key,
        "participants": dict(live_participants(counts)),
        "total": int(counts.get("participants", 0)),
    }


def shape_results(raw: Mapping[str, Any]) -> Results:
    """The stored results JSON (README, Analysis) as metric tables."""
    sequential = (raw.get("settings") or {}).get("mode", "sequential") != "fixed"
    tables = [
        _table(m, sequential) for m in raw.get("metrics") or [] if isinstance(m, dict)
    ]
    return Results(raw, tables)


def _table(metric: Mapping[str, Any], sequential: bool) -> MetricTable:
    kind = "conversion" if metric.get("type") == "conversion" else "value"
    rows = []
    for i, v in enumerate(metric.get("variations") or []):
        test = v.get(kind) or {}
        if sequential:
            ci = test.get("rel_ci_sequential")
            p = _first(test, "p_value_sequential_adjusted", "p_value_sequential")
        else:
            ci = test.get("rel_ci")
            p = _first(test, "p_value_adjusted", "p_value")
        rate = v.get("conversion_rate") if kind == "conversion" else v.get("mean")
        rate_ci = (
            v.get("conversion_rate_ci") if kind == "conversion" else v.get("mean_ci")
        )
        rows.append(
            Row(
                name=str(v.get("name", "")),
                participants=v.get("participants"),
                rate=rate,
                rate_ci=rate_ci,
                lift=test.get("rel_lift"),
                interval=ci,
                p_value=p,
                outcome=v.get("outcome"),
                control=i == 0,
            )
        )
    return MetricTable(
        event=str(metric.get("event", "")),
        type=kind,
        role=str(metric.get("role") or "primary"),
        direction=str(metric.get("direction") or "higher"),
        verdict=str(metric.get("verdict") or ""),
        users_needed=metric.get("users_needed"),
        rows=rows,
    )


def _first(test: Mapping[str, Any], *names: str) -> Any:
    return next((test[n] for n in names if test.get(n) is not None), None)


# -- the create and edit forms ----------------------------------------------


def form_values(exp: Experiment) -> dict[str, str]:
    """An experiment's fields as the form shows them (for editing)."""
    data = exp.to_dict()
    events = [m.event for m in exp.metrics]
    shorthand = parse_metrics(events) == exp.metrics if events else True
    return {
        "key": exp.key,
        "name": data["name"],
        "variations": ", ".join(exp.variations),
        "weights": ", ".join(f"{w:g}" for w in exp.weights) if exp.weights else "",
        "coverage": f"{exp.coverage:g}",
        "metrics": ", ".join(events)
        if shorthand
        else json.dumps(data["metrics"], indent=1),
        "analysis": json.dumps(data["analysis"]),
    }
