"""A result as HTML: the decision, the warnings, the phase, a table per metric.

``results_section`` is what the dashboard's experiment page shows (and
refreshes) and what the job's HTML report shows per experiment: the same
function, so both read alike. Every string from the result (names, event
keys, summaries) is escaped. Ids carry ``id_prefix`` so a page may hold
several results (the report) or one (the dashboard, no prefix). Tables stay
within the page: 7 columns fit 1280 px, and below 640 px each row becomes a
block of labelled lines (``style.CSS``; every cell carries ``data-label``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from abflask.core.render import charts
from abflask.core.render import format as fmt
from abflask.core.render.svg import esc
from abflask.core.stats.schema import (
    ComparisonResult,
    ExperimentResult,
    MetricResult,
    VariationResult,
)


def decision_banner(result: ExperimentResult, *, id_prefix: str = "") -> str:
    """The decision in words, coloured by its state."""
    decision = result["decision"]
    state = decision["state"]
    summary = decision["summary"] or fmt.words(state, fmt.DECISIONS)
    return (
        f'<div id="{esc(id_prefix)}decision" class="decision {esc(state)}">'
        f"<p>{esc(summary)}</p></div>"
    )


def srm_banner(result: ExperimentResult, *, id_prefix: str = "") -> str:
    """The sample-ratio-mismatch warning; empty when the split is healthy."""
    if not result["srm_warning"]:
        return ""
    head, _, rest = fmt.srm_text(result["srm_p_value"]).partition(": ")
    return (
        f'<div id="{esc(id_prefix)}srm" class="warn srm" role="alert">'
        f"<strong>{esc(head)}.</strong> {esc(fmt.sentence(rest))}</div>"
    )


def exclusions(result: ExperimentResult) -> str:
    """Who and what the numbers leave out: warnings, then notes."""
    warnings, notes = fmt.exclusion_texts(result["excluded"])
    return "".join(f'<div class="warn excluded">{esc(w)}</div>' for w in warnings) + (
        f'<p class="hint excluded">{esc(" ".join(notes))}</p>' if notes else ""
    )


def phase_line(result: ExperimentResult) -> str:
    """Which phase the numbers cover, and its split."""
    text = fmt.phase_text(result["phase"], result["variations"])
    return f'<p class="phase-line">Numbers for {esc(text[0].lower() + text[1:])}.</p>'


def provenance(
    result: ExperimentResult, *, now: float | None, id_prefix: str = ""
) -> str:
    """Where the numbers come from and when (not when ``now`` is None: a page
    that says when it was made), and which tests they are."""
    at = result["generated_at"]
    stamp = (
        ""
        if now is None
        else f'<span id="{esc(id_prefix)}generated"><time datetime="'
        f'{esc(fmt.iso(at))}">{esc(fmt.when(at))}</time> ({esc(fmt.ago(at, now))})'
        "</span>"
    )
    if result.get("source") == "live":
        text = f"Live from the counters{', ' if stamp else ''}{stamp}."
    else:
        records = result.get("records_analysed")
        read = (
            f" from {fmt.count(records)} logged records" if records is not None else ""
        )
        text = f"Computed by the analysis job{' ' if stamp else ''}{stamp}{esc(read)}."
    if _sequential(result):
        text += (
            " Intervals and p-values are always-valid: looking often does not "
            "make them wrong."
        )
    else:
        text += (
            " Intervals and p-values are fixed-horizon: valid once the planned "
            "users are reached."
        )
    return f'<p class="generated">{text}</p>'


def _sequential(result: ExperimentResult) -> bool:
    return result["settings"].get("mode", "sequential") != "fixed"


def _first(test: ComparisonResult, *names: str) -> object:
    found: Mapping[str, object] = test
    return next((found[n] for n in names if found.get(n) is not None), None)


COLUMNS = ("Variation", "Participants", "", "Lift", "", "p-value", "Outcome")
"""A metric table's headings; the rate's and the interval's depend on the
metric and the settings."""


def _row(
    v: VariationResult,
    metric: MetricResult,
    heads: Sequence[str],
    *,
    control: bool,
    sequential: bool,
) -> str:
    """One variation's row; ``heads`` label its cells for the stacked layout."""
    value = metric["type"] == "value"
    test: ComparisonResult = v["value"] if value else v["conversion"]
    rate = fmt.number(v["mean"]) if value else fmt.percent(v["conversion_rate"])
    if sequential:
        ci = test["rel_ci_sequential"]
        p = _first(test, "p_value_sequential_adjusted", "p_value_sequential")
    else:
        ci = test["rel_ci"]
        p = _first(test, "p_value_adjusted", "p_value")
    name = esc(v["name"]) + (" <small>(control)</small>" if control else "")
    cells = [fmt.count(v["participants"]), rate]
    outcome = ""
    if control:
        cells += [fmt.MISSING] * 3
        outcome = fmt.MISSING
    else:
        cells += [fmt.lift(test["rel_lift"]), fmt.interval(ci), fmt.p_value(p)]
        outcome = (
            f'<span class="outcome {esc(v["outcome"] or "none")}">'
            f"{esc(fmt.words(v['outcome'], fmt.OUTCOMES))}</span>"
        )
        bound = fmt.finite(v["harm_bound"])
        if metric["role"] == "guardrail" and bound is not None:
            side = "worse" if bound < 0 else "better"
            outcome += f" <small>at worst {fmt.percent(abs(bound))} {side}</small>"
        state = fmt.STATES.get(test["state"] or "ok", test["state"] or "")
        if state:
            outcome += f' <small class="state">{esc(state)}</small>'
    tds = "".join(
        f'<td class="num{" none" if c == fmt.MISSING else ""}" '
        f'data-label="{esc(h)}">{esc(c)}</td>'
        for h, c in zip(heads[1:6], cells, strict=True)
    )
    return (
        f'<tr{" class=control" if control else ""} data-name="{esc(v["name"])}">'
        f'<th scope="row" data-label="Variation">{name}</th>{tds}'
        f'<td{" class=none" if control else ""} data-label="Outcome">'
        f"<div>{outcome}</div></td></tr>"
    )


def _headings(metric: MetricResult, confidence: float | None) -> list[str]:
    level = fmt.percent(confidence, 0) + " " if confidence is not None else ""
    rate = fmt.label("mean" if metric["type"] == "value" else "conversion_rate")
    heads = list(COLUMNS)
    heads[2], heads[4] = rate, f"{level}interval of the lift".capitalize()
    return heads


def metric_table(
    result: ExperimentResult, index: int, *, id_prefix: str = "", heading: int = 2
) -> str:
    """One metric: how it is read, its table, any note, and its verdict."""
    metric = result["metrics"][index]
    sequential = _sequential(result)
    heads = _headings(metric, fmt.confidence(result["settings"]))
    event = esc(metric["event"])
    head = "".join(
        f'<th scope="col"{" class=num" if 0 < i < 6 else ""}>{esc(h)}</th>'
        for i, h in enumerate(heads)
    )
    rows = "".join(
        _row(v, metric, heads, control=i == 0, sequential=sequential)
        for i, v in enumerate(metric["variations"])
    )
    note = metric.get("note")
    verdict = metric["verdict"]
    return (
        f'<section class="metric" id="{esc(id_prefix)}metric-{index}" '
        f'data-event="{event}"><h{heading}>{event} '
        f"<small>{esc(fmt.metric_text(metric))}</small></h{heading}>"
        + (f'<p class="note">{esc(fmt.sentence(note))}</p>' if note else "")
        + f'<div class="table-box"><table class="results metric" data-event="{event}">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        # The job's words as they are (the CSS capitalises the first letter).
        + (f'<p class="verdict">{esc(_stop(verdict))}</p>' if verdict else "")
        + "</section>"
    )


def _stop(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def results_section(
    result: ExperimentResult,
    *,
    now: float | None,
    id_prefix: str = "",
    heading: int = 2,
    notes: Sequence[str] = (),
) -> str:
    """Everything about one result: decision, SRM and exclusion warnings, the
    phase and where the numbers come from (and when, how long before ``now``;
    None leaves that out), ``notes`` (plain text), a table per metric, and the
    charts."""
    parts = [
        decision_banner(result, id_prefix=id_prefix),
        srm_banner(result, id_prefix=id_prefix),
        exclusions(result),
        *(f'<p class="note">{esc(n)}</p>' for n in notes),
        phase_line(result),
        provenance(result, now=now, id_prefix=id_prefix),
        *(
            metric_table(result, i, id_prefix=id_prefix, heading=heading)
            for i in range(len(result["metrics"]))
        ),
        charts.charts(result, id_prefix=id_prefix),
    ]
    return "\n".join(p for p in parts if p)
