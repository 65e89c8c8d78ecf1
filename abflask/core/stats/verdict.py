"""From per-variation summaries to outcomes and the experiment's decision.

Pure (``inference`` and ``core``; stdlib only, no I/O): ``evaluate`` takes one
``MetricData`` per metric (the summaries of every variation) with the
experiment's ``AnalysisSettings`` and says, per metric and treatment, whether
it is better, worse or still inconclusive, and for the experiment what to do:

* ``ship`` a treatment that wins on a primary metric, loses on none and harms
  no guardrail (guardrails with a margin must be shown within it);
* ``harmful``: a treatment is significantly worse on a guardrail, beyond its
  margin — stop it;
* ``dont_ship``: a treatment is significantly worse on a primary metric;
* ``keep_running``: nothing is decided yet; ``users_needed`` says how long;
* ``unreliable``: a sample ratio mismatch, or fewer than ``min_sample``
  participants in a variation: no number should be read.

Primary and secondary metrics form one family of tests (every treatment ×
metric, on the metric's own type), adjusted by Holm or Benjamini–Hochberg.
Guardrails are tested on their own, one-sided at level alpha, with the
always-valid interval in both modes (they are safety checks, looked at all the
time). The simulation script (``scripts/simulate_verdicts.py``) calls
``evaluate`` exactly as the job does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.stats import inference

__all__ = [
    "STATES",
    "Decision",
    "Evaluation",
    "MetricData",
    "MetricEvaluation",
    "evaluate",
]

STATES = ("ship", "dont_ship", "harmful", "keep_running", "unreliable")
"""The decision states, in plain words in ``Decision.summary``."""

OUTCOMES = (
    "better",
    "worse",
    "inconclusive",
    "too_little_data",
    "waiting",
    "within_margin",
    "harmed",
)
"""Per metric and treatment: ``better``/``worse`` (significant, in the metric's
direction), ``inconclusive``, ``too_little_data`` (below ``min_sample`` or an
undefined test), ``waiting`` (fixed-horizon test before ``planned_users``);
guardrails: ``harmed`` (significantly worse beyond the margin),
``within_margin`` (shown no worse than the margin allows, or not harmed when
there is no margin) or ``inconclusive``."""


@dataclass(frozen=True)
class MetricData:
    """One metric's per-variation summaries, control first.

    ``conversion``: ``Summary.of_counts`` per variation; ``value``: per-user
    value totals (capped if the metric says so) per variation.
    ``nonnegative``: no per-user value is below 0 (relative intervals are then
    kept at or above -100%).
    """

    metric: Metric
    conversion: Sequence[inference.Summary]
    value: Sequence[inference.Summary]
    nonnegative: bool = True

    def summaries(self) -> Sequence[inference.Summary]:
        """The summaries of the metric's own type (what the verdict reads)."""
        return self.conversion if self.metric.type == "conversion" else self.value


@dataclass
class MetricEvaluation:
    """What ``evaluate`` found for one metric.

    ``conversion[i]``/``value[i]`` compare treatment ``i + 1`` with control;
    ``adjusted[i]``/``adjusted_sequential[i]`` are the family-adjusted p-values
    of the metric's own type (None for guardrails: they are not in the family);
    ``outcomes[i]`` its outcome; ``harm_bound[i]`` (guardrails) the one-sided
    always-valid bound on the harmful side, relative to the control mean.
    """

    data: MetricData
    conversion: list[inference.Comparison]
    value: list[inference.Comparison]
    adjusted: list[float | None] = field(default_factory=list)
    adjusted_sequential: list[float | None] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    harm_bound: list[float | None] = field(default_factory=list)
    users_needed: int | None = None
    verdict: str = ""

    @property
    def metric(self) -> Metric:
        return self.data.metric

    def tested(self) -> list[inference.Comparison]:
        """The comparisons of the metric's own type."""
        return self.conversion if self.metric.type == "conversion" else self.value


@dataclass(frozen=True)
class Decision:
    """The experiment's state, the variation it concerns, and plain words."""

    state: str
    variation: str | None
    summary: str


@dataclass(frozen=True)
class Evaluation:
    metrics: list[MetricEvaluation]
    decision: Decision
    family: int
    """Tests in the adjusted family (treatments × primary/secondary metrics)."""


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def _effect(cmp: inference.Comparison, sequential: bool) -> str:
    """``+8.9% [+0.2%, +17.7%]``, or the absolute lift when the relative one is
    undefined (control mean 0) or its interval unbounded."""
    ci = cmp.rel_ci_sequential if sequential else cmp.rel_ci
    if math.isfinite(cmp.rel_lift) and not math.isnan(ci[0]):
        return f"{_pct(cmp.rel_lift)} [{_pct(ci[0])}, {_pct(ci[1])}]"
    abs_ci = cmp.abs_ci_sequential if sequential else cmp.abs_ci
    if math.isnan(abs_ci[0]):
        return f"{cmp.abs_lift:+.4g}"
    return f"{cmp.abs_lift:+.4g} [{abs_ci[0]:+.4g}, {abs_ci[1]:+.4g}] (absolute)"


def _sign(metric: Metric) -> float:
    return 1.0 if metric.direction == "higher" else -1.0


def _one_sided(settings: AnalysisSettings) -> float:
    """The two-sided level whose sequence bounds each side at level alpha."""
    return min(2.0 * settings.alpha, 0.5)


def _compare(
    data: MetricData,
    settings: AnalysisSettings,
    alpha: float,
    kind: str,
    *,
    tests: bool = True,
) -> list[inference.Comparison]:
    """Every treatment against control on ``kind`` (conversion or value);
    without the tests unless ``tests`` (see ``inference.compare``)."""
    arms = data.conversion if kind == "conversion" else data.value
    return [
        inference.compare(
            arms[0],
            t,
            kind,
            alpha=alpha,
            tuning=float(settings.planned_users),
            nonnegative=kind == "conversion" or data.nonnegative,
            tests=tests,
        )
        for t in arms[1:]
    ]


def _enough(data: MetricData, i: int, settings: AnalysisSettings) -> bool:
    """Control and treatment ``i`` (1-based) both have ``min_sample`` users."""
    s = data.summaries()
    return min(s[0].n, s[i].n) >= settings.min_sample


def _guardrail(
    ev: MetricEvaluation, settings: AnalysisSettings
) -> tuple[list[str], list[float | None]]:
    """Outcomes and harm bounds of a guardrail, one-sided at level alpha."""
    data, metric, sign = ev.data, ev.metric, _sign(ev.metric)
    # Only the always-valid interval is read: no p-values.
    cmps = _compare(data, settings, _one_sided(settings), metric.type, tests=False)
    control_mean = abs(data.summaries()[0].mean)
    tolerated = (metric.margin or 0.0) * control_mean
    outcomes: list[str] = []
    bounds: list[float | None] = []
    for i, cmp in enumerate(cmps, start=1):
        low, high = cmp.abs_ci_sequential
        if math.isnan(low) or not _enough(data, i, settings):
            outcomes.append("too_little_data")
            bounds.append(None)
            continue
        # The interval of the improvement (sign * difference).
        imp_low, imp_high = (low, high) if sign > 0 else (-high, -low)
        bounds.append(imp_low / control_mean if control_mean else None)
        if imp_high < -tolerated:
            outcomes.append("harmed")
        elif metric.margin is None or imp_low > -tolerated:
            outcomes.append("within_margin")
        else:
            outcomes.append("inconclusive")
    return outcomes, bounds


def _tested_outcomes(
    ev: MetricEvaluation, settings: AnalysisSettings, reached: bool
) -> list[str]:
    """Outcomes of a primary or secondary metric from its adjusted p-values."""
    sign = _sign(ev.metric)
    sequential = settings.mode == "sequential"
    out = []
    for i, cmp in enumerate(ev.tested(), start=1):
        p = ev.adjusted_sequential[i - 1] if sequential else ev.adjusted[i - 1]
        if p is None or not _enough(ev.data, i, settings):
            out.append("too_little_data")
        elif not sequential and not reached:
            out.append("waiting")
        elif p < settings.alpha and cmp.abs_lift != 0.0:
            out.append("better" if sign * cmp.abs_lift > 0 else "worse")
        else:
            out.append("inconclusive")
    return out


def _users_needed(
    ev: MetricEvaluation, settings: AnalysisSettings, family: int
) -> int | None:
    control = ev.data.summaries()[0]
    if control.n == 0:
        return None
    guardrail = ev.metric.role == "guardrail"
    needed = inference.users_needed(
        control,
        ev.metric.type,
        mde=settings.mde,
        alpha=_one_sided(settings) if guardrail else settings.alpha,
        power=settings.power,
        tuning=float(settings.planned_users),
        family=1 if guardrail else family,
        mode="sequential" if guardrail else settings.mode,
    )
    if needed is None or needed >= inference.MAX_USERS:
        return None  # out of reach: say nothing rather than "10**12 more"
    return needed


def _metric_verdict(
    ev: MetricEvaluation, variations: Sequence[str], settings: AnalysisSettings
) -> str:
    """One metric in plain words."""
    metric, control = ev.metric, variations[0]
    sequential = settings.mode == "sequential" or metric.role == "guardrail"
    said = []
    for i, (cmp, outcome) in enumerate(zip(ev.tested(), ev.outcomes, strict=True)):
        name = variations[i + 1]
        if outcome == "better":
            said.append(
                f"{name} beats {control} on {metric.event}: {_effect(cmp, sequential)}"
            )
        elif outcome == "worse":
            said.append(
                f"{name} is worse than {control} on {metric.event}: "
                f"{_effect(cmp, sequential)}"
            )
        elif outcome == "harmed":
            said.append(f"{name} harms guardrail {metric.event}: {_effect(cmp, True)}")
    if said:
        return "; ".join(said)
    counts = [s.n for s in ev.data.summaries()]
    if min(counts) < settings.min_sample:
        return (
            f"too little data on {metric.event}: {min(counts):,} participants in "
            f"the smallest variation, {settings.min_sample:,} needed before any verdict"
        )
    if metric.role == "guardrail":
        if all(o == "within_margin" for o in ev.outcomes):
            margin = (
                f"within its {metric.margin:.1%} margin"
                if metric.margin
                else "not harmed"
            )
            return f"guardrail {metric.event}: {margin}"
        margin = f"{metric.margin or 0:.1%}"
        return f"guardrail {metric.event}: not yet shown within its {margin} margin"
    if "waiting" in ev.outcomes:
        total = sum(counts)
        return (
            f"fixed-horizon test on {metric.event}: {total:,} of "
            f"{settings.planned_users:,} planned users; no verdict before then"
        )
    return (
        f"no detectable difference yet on {metric.event}{_more(ev, counts, settings)}"
    )


def _more(
    ev: MetricEvaluation, counts: Sequence[int], settings: AnalysisSettings
) -> str:
    needed = ev.users_needed
    if needed is None:
        return ""
    have = min(counts)
    change = f"a {settings.mde:.0%} change"
    if have >= needed:
        return f" — a {change[2:]} would most likely have been detected by now"
    return (
        f" — about {needed - have:,} more users per variation needed to detect {change}"
    )


def _decide(
    evs: list[MetricEvaluation],
    variations: Sequence[str],
    settings: AnalysisSettings,
    counts: Sequence[int],
    srm: bool,
) -> Decision:
    if srm:
        return Decision(
            "unreliable",
            None,
            "Results unreliable: sample ratio mismatch — the participants do not "
            "match the weights, so assignment or tracking is broken. Find the cause "
            "before reading any number.",
        )
    if not counts or min(counts) < settings.min_sample:
        smallest = min(counts) if counts else 0
        return Decision(
            "unreliable",
            None,
            f"Too little data: {smallest:,} participants in the smallest variation; "
            f"verdicts need at least {settings.min_sample:,} per variation.",
        )
    primaries = [ev for ev in evs if ev.metric.role == "primary"]
    guardrails = [ev for ev in evs if ev.metric.role == "guardrail"]
    if not primaries:
        return Decision(
            "keep_running",
            None,
            "No primary metric to decide on: give the experiment metrics.",
        )
    winners: list[tuple[float, int]] = []
    worse: list[str] = []
    harmed: list[str] = []
    unproven: list[str] = []
    for i, name in enumerate(variations[1:]):
        outcomes = [ev.outcomes[i] for ev in primaries]
        harms = [ev.metric.event for ev in guardrails if ev.outcomes[i] == "harmed"]
        pending = [
            ev.metric.event for ev in guardrails if ev.outcomes[i] != "within_margin"
        ]
        if harms:
            harmed += [
                ev.verdict
                for ev in guardrails
                if ev.outcomes[i] == "harmed" and ev.verdict not in harmed
            ]
        if "worse" in outcomes:
            worse += [
                ev.verdict
                for ev in primaries
                if ev.outcomes[i] == "worse" and ev.verdict not in worse
            ]
        elif "better" in outcomes and not harms:
            if pending:
                unproven.append(
                    f"{name} wins but guardrail {', '.join(pending)} "
                    "is not yet shown within its margin"
                )
            else:
                lift = primaries[outcomes.index("better")].tested()[i].rel_lift
                winners.append((lift if math.isfinite(lift) else 0.0, i + 1))
    if winners:
        best = variations[max(winners)[1]]
        wins = [
            ev.verdict
            for ev in primaries
            if ev.outcomes[max(winners)[1] - 1] == "better"
        ]
        return Decision(
            "ship",
            best,
            f"Ship {best}: " + "; ".join(wins) + ", and no guardrail is harmed.",
        )
    if harmed:
        return Decision(
            "harmful", None, "Harmful — stop it: " + "; ".join(harmed) + "."
        )
    if worse:
        return Decision("dont_ship", None, "Don't ship: " + "; ".join(worse) + ".")
    if unproven:
        return Decision(
            "keep_running", None, "Keep running: " + "; ".join(unproven) + "."
        )
    words = "; ".join(ev.verdict for ev in primaries)
    return Decision("keep_running", None, f"Keep running: {words}.")


def evaluate(
    variations: Sequence[str],
    metrics: Sequence[MetricData],
    settings: AnalysisSettings,
    participants: Sequence[int],
    *,
    srm: bool = False,
) -> Evaluation:
    """Compare every treatment with control on every metric, and decide.

    ``variations``: names, control first; each ``MetricData`` has one
    summary per variation in that order, as has ``participants`` (the phase's
    participants per variation). ``srm``: the phase failed the
    sample-ratio check (the decision is then ``unreliable``).
    """
    evs: list[MetricEvaluation] = []
    for data in metrics:
        conv = _compare(data, settings, settings.alpha, "conversion")
        val = _compare(data, settings, settings.alpha, "value")
        evs.append(MetricEvaluation(data, conv, val))
    tested = [ev for ev in evs if ev.metric.role != "guardrail"]
    fixed = [c.p_value for ev in tested for c in ev.tested()]
    sequential = [c.p_value_sequential for ev in tested for c in ev.tested()]
    family = sum(
        1
        for p in (sequential if settings.mode == "sequential" else fixed)
        if not math.isnan(p)
    )
    adj_fixed = iter(inference.adjust(fixed, settings.correction))
    adj_seq = iter(inference.adjust(sequential, settings.correction))
    counts = list(participants)
    total = sum(counts)
    for ev in evs:
        if ev.metric.role == "guardrail":
            ev.adjusted = [None] * len(ev.tested())
            ev.adjusted_sequential = [None] * len(ev.tested())
            ev.outcomes, ev.harm_bound = _guardrail(ev, settings)
        else:
            ev.adjusted = [_finite(next(adj_fixed)) for _ in ev.tested()]
            ev.adjusted_sequential = [_finite(next(adj_seq)) for _ in ev.tested()]
            ev.outcomes = _tested_outcomes(
                ev, settings, total >= settings.planned_users
            )
            ev.harm_bound = [None] * len(ev.tested())
        ev.users_needed = _users_needed(ev, settings, max(family, 1))
        ev.verdict = _metric_verdict(ev, variations, settings)
    decision = _decide(evs, variations, settings, counts, srm)
    return Evaluation(evs, decision, family)


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)
