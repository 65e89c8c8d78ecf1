"""What each page shows, gathered and shaped for the templates.

The pages read through ``management`` (definitions, 404s), the Store's
read methods (live counters) and ``service.live`` (live results). An
experiment's numbers come from one function, ``results_for``, and are drawn by
``abflask.core.render.tables`` (the job's HTML report draws with it too), so
the page and the fragment its script refreshes every few seconds are the same
HTML. The templates format the rest (``format``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.flag import Flag
from abflask.core.metric import parse_metrics
from abflask.core.render import tables
from abflask.core.segment import Segment, references
from abflask.core.stats.schema import ExperimentResult
from abflask.service import live as live_results
from abflask.service import management
from abflask.service.extension import Services


@dataclass(frozen=True)
class ExperimentRow:
    """One line of the list: the definition, live counts and the live verdict."""

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
    results: Results


def live_participants(counts: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``(variation, participants)`` from ``Store.counters``."""
    return [(v["name"], int(v["participants"])) for v in counts.get("variations", [])]


@dataclass(frozen=True)
class SegmentRow:
    """One segment on the list: the definition and who uses it."""

    segment: Segment
    used_by: Mapping[str, list[str]]


def segments(
    svc: Services, experiments: Sequence[Experiment], flags: Sequence[Flag]
) -> list[SegmentRow]:
    """Every segment with the experiments, flags (those given: the list page's
    own) and segments that use it."""
    by_key = {e.key: e for e in experiments}
    flag_keys = {f.key: f for f in flags}
    saved = {s.key: s for s in management.list_segments(svc)}
    return [
        SegmentRow(s, references(s.key, by_key, flag_keys, saved))
        for s in saved.values()
    ]


def overview(svc: Services, now: float) -> tuple[list[ExperimentRow], list[Flag]]:
    """The list page: every experiment with its counts and live verdict (of
    its current phase; none for a draft); every flag."""
    rows = []
    for exp in management.list_experiments(svc):
        result = live_results.result_of(svc, exp, None, now) if exp.phases else None
        if result is not None and not sum(result["participants"].values()):
            result = None
        rows.append(
            ExperimentRow(exp, live_participants(svc.store.counters(exp)), result)
        )
    return rows, management.list_flags(svc)


def experiment_page(
    svc: Services, key: str, phase: int | None, now: float
) -> ExperimentPage:
    """One experiment (404 if missing) with live counts and its results."""
    exp = management.get_experiment(svc, key)
    participants = live_participants(svc.store.counters(exp))
    return ExperimentPage(exp, participants, results(svc, exp, phase, now))


def live(svc: Services, key: str) -> dict[str, Any]:
    """The live counts the page's script polls for."""
    counts = management.describe_experiment(svc, key)["counts"]
    return {
        "key": key,
        "participants": dict(live_participants(counts)),
        "total": int(counts.get("participants", 0)),
    }


# -- results --------------------------------------------------------------------


def results_for(
    svc: Services, exp: Experiment, phase: int | None, now: float
) -> ExperimentResult:
    """The result the experiment page shows for ``phase`` (an index; None: the
    current one): the live result, with its time series.

    The one source of the page's numbers and of its refreshed fragment: the
    job's statistics on the live counters (``service.live``), the numbers
    ``GET /experiments/<key>/results?live=1`` gives. ValidationError naming
    ``phase`` for a phase the experiment does not have.
    """
    return live_results.result_of(svc, exp, phase, now, series=True)


@dataclass(frozen=True)
class Results:
    """The results section: the result (None before anyone is enrolled) and
    its HTML."""

    result: ExperimentResult | None
    phase: int | None
    html: str


def results(svc: Services, exp: Experiment, phase: int | None, now: float) -> Results:
    """The results section of ``exp``'s page for ``phase``: the same for the
    page and for the fragment its script fetches."""
    result = results_for(svc, exp, phase, now)
    if not exp.phases or not sum(result["participants"].values()):
        return Results(None, phase, _no_results(exp, result["phase"]["index"]))
    html = tables.results_section(result, now=now, heading=2)
    return Results(result, phase, html)


def _no_results(exp: Experiment, phase: int) -> str:
    if not exp.phases:
        words = "Start the experiment: its numbers appear here as users are enrolled."
    elif phase == len(exp.phases) - 1:
        words = (
            f"Nobody is enrolled in phase {phase + 1} yet: its numbers appear "
            "here, live, as users are."
        )
    else:
        words = f"Nobody was enrolled in phase {phase + 1}."
    return (
        '<div id="decision" class="decision none">'
        '<span class="badge none">no participants yet</span>'
        f"<p>{words}</p></div>"
    )


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
        "condition": json.dumps(exp.condition, indent=1) if exp.condition else "",
        "segments": ", ".join(exp.segments),
    }


def segment_values(segment: Segment) -> dict[str, str]:
    """A segment's fields as its edit form shows them."""
    return {
        "key": segment.key,
        "description": segment.description,
        "values": "\n".join(str(v) for v in segment.values or ()),
        "condition": json.dumps(segment.condition, indent=1)
        if segment.condition is not None
        else "",
    }
