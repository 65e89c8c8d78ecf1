"""What each page shows, gathered and shaped for the templates.

The pages read through ``management`` (definitions, 404s) and the Store's
read methods (live counters, stored results). An experiment's numbers come
from one function, ``results_for``, and are drawn by
``abflask.core.render.tables`` (the job's HTML report draws with it too), so
the page and the fragment its script refreshes every few seconds are the same
HTML. The templates format the rest (``format``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any, cast

from abflask.core.experiment import Experiment
from abflask.core.fields import fail
from abflask.core.flag import Flag
from abflask.core.metric import parse_metrics
from abflask.core.render import tables
from abflask.core.stats.schema import ExperimentResult
from abflask.service import management
from abflask.service.extension import Services


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
    results: Results


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


def results_for(svc: Services, key: str, phase: int | None) -> ExperimentResult | None:
    """The result the experiment page shows for ``phase`` (an index; None: the
    latest), or None when there is none.

    The one source of the page's numbers and of its refreshed fragment. For
    now it is what the analysis job stored: the last run, of the phase that
    was current then, so another phase has none.
    """
    stored = svc.store.results(key)
    if stored is None:
        return None
    if phase is not None and stored.get("phase", {}).get("index") != phase:
        return None
    return cast(ExperimentResult, stored)


@dataclass(frozen=True)
class Results:
    """The results section: the result (if any) and its HTML."""

    result: ExperimentResult | None
    phase: int | None
    html: str


def results(svc: Services, exp: Experiment, phase: int | None, now: float) -> Results:
    """The results section of ``exp``'s page for ``phase``: the same for the
    page and for the fragment its script fetches."""
    if phase is not None and not 0 <= phase < max(len(exp.phases), 1):
        raise fail("phase", f"{exp.key!r} has no phase {phase}")
    result = results_for(svc, exp.key, phase)
    if result is None:
        return Results(None, phase, _no_results(exp, phase))
    notes = []
    shown = result["phase"]["index"]
    if phase is None and exp.phases and shown != len(exp.phases) - 1:
        notes.append(
            f"These numbers are for phase {shown + 1}; phase {len(exp.phases)} "
            "began since. The next analysis run covers it."
        )
    html = tables.results_section(result, now=now, heading=2, notes=notes)
    return Results(result, phase, html)


def _no_results(exp: Experiment, phase: int | None) -> str:
    if phase is None:
        words = (
            "The analysis job (<code>scripts/analyze.py</code>, usually run from "
            "cron) has not analysed this experiment yet."
        )
    elif phase == len(exp.phases) - 1:
        words = (
            f"The analysis job has not analysed phase {phase + 1} yet: its next "
            "run covers it."
        )
    else:
        words = (
            f"No stored results for phase {phase + 1}: the analysis job stores "
            "the current phase's. <code>scripts/analyze.py --experiment "
            f"{escape(exp.key)} --phase {phase}</code> prints them."
        )
    return (
        '<div id="decision" class="decision none">'
        '<span class="badge none">no results yet</span>'
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
    }
