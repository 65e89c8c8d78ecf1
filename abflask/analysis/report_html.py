"""The HTML report: one self-contained page with tables and inline SVG plots.

Plots per experiment: conversion rate with its 95% interval per variation
(one panel per metric), cumulative participants over time, and cumulative
relative lift over time with the always-valid (sequential) band.
"""

from __future__ import annotations

import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: cron and CI have none

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from abflask.analysis.report_text import (  # noqa: E402
    metric_title,
    phase_line,
    summary_rows,
    warnings,
)
from abflask.analysis.schema import ExperimentResult  # noqa: E402

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem}h2{margin-top:2.5rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}
.warn{background:#fde8e8;border:1px solid #e0a0a0;padding:.6rem 1rem}
.verdict{font-weight:600}
.decision{padding:.6rem 1rem;border:1px solid #bbb;border-radius:4px}
.good{background:#e6f4ea;border-color:#8bc79b}.bad{background:#fde8e8;border-color:#e0a0a0}
.neutral{background:#f3f4f6}.plots svg{max-width:100%;height:auto}
"""


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _fmt(x: Any, style: str = "") -> str:
    """A cell: ``lift`` signed percent, ``rate`` percent, ``p`` a p-value."""
    if x is None:
        return "—"
    if isinstance(x, float):
        if style == "lift":
            return f"{x:+.2%}"
        if style == "rate":
            return f"{x:.2%}"
        if style == "p":
            return "&lt;0.0001" if x < 1e-4 else f"{x:.4f}"
        return f"{x:,.4g}"
    return html.escape(str(x).replace("_", " "))


def rates_plot(result: ExperimentResult) -> str:
    """Per metric, each variation's rate (conversion) or mean per participant
    (value) with its interval, one panel per metric."""
    metrics = result["metrics"] or []
    fig, axes = plt.subplots(
        1, max(len(metrics), 1), figsize=(3.6 * max(len(metrics), 1), 3), squeeze=False
    )
    for ax, metric in zip(axes[0], metrics, strict=False):
        value = metric["type"] == "value"
        names, centres, below, above = [], [], [], []
        for v in metric["variations"]:
            centre = (v["mean"] if value else v["conversion_rate"]) or 0.0
            low, high = (v["mean_ci"] if value else v["conversion_rate_ci"]) or (
                centre,
                centre,
            )
            names.append(v["name"])
            centres.append(centre)
            below.append(centre - low if low is not None else 0.0)
            above.append(high - centre if high is not None else 0.0)
        ax.errorbar(range(len(names)), centres, yerr=[below, above], fmt="o", capsize=6)
        ax.set_xticks(range(len(names)), names)
        ax.set_title(f"{metric['event']} ({metric['role']})")
        ax.set_ylabel("mean per participant" if value else "conversion rate")
        if not value:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.margins(x=0.3)
    fig.tight_layout()
    return _svg(fig)


def timeline_plot(result: ExperimentResult) -> str:
    """Cumulative participants, and relative lift with the sequential band."""
    series = result["timeseries"]
    points = series["points"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    when = [datetime.fromtimestamp(p["t"], UTC) for p in points]
    for i, name in enumerate(result["variations"]):
        top.plot(when, [p["participants"][i] for p in points], label=name)
        if i == 0:
            continue
        lift = [p["lift"][i - 1] for p in points]
        mid = [x["rel_lift"] if x["rel_lift"] is not None else math.nan for x in lift]
        low = [
            x["rel_ci_sequential"][0]
            if x["rel_ci_sequential"][0] is not None
            else math.nan
            for x in lift
        ]
        high = [
            x["rel_ci_sequential"][1]
            if x["rel_ci_sequential"][1] is not None
            else math.nan
            for x in lift
        ]
        (line,) = bottom.plot(when, mid, label=f"{name} vs {result['variations'][0]}")
        bottom.fill_between(when, low, high, alpha=0.2, color=line.get_color())
    top.set_ylabel("participants (cumulative)")
    top.legend(loc="upper left")
    bottom.axhline(0, color="#888", linewidth=1)
    kind = series.get("type", "conversion")
    bottom.set_ylabel(f"relative lift on {series.get('event') or '—'} ({kind})")
    bottom.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    if len(result["variations"]) > 1:
        bottom.legend(loc="upper left")
    fig.autofmt_xdate()
    return _svg(fig)


STATE_CLASS = {
    "ship": "good",
    "dont_ship": "bad",
    "harmful": "bad",
    "keep_running": "neutral",
    "unreliable": "warn",
}
"""The decision box's colour, by decision state."""

COLUMNS = [
    ("variation", "variation", ""),
    ("participants", "participants", ""),
    ("converters", "converters", ""),
    ("conversion_rate", "rate", "rate"),
    ("mean", "mean", ""),
    ("{type}_rel_lift", "lift", "lift"),
    ("{type}_rel_ci_sequential_low", "interval (always valid)", "lift"),
    ("{type}_rel_ci_sequential_high", "", "lift"),
    ("{type}_p_value_adjusted", "p adj.", "p"),
    ("{type}_p_value_sequential_adjusted", "p seq. adj.", "p"),
    ("outcome", "outcome", ""),
]
"""Summary-row fields of a metric's table, its heading and its cell style
(see ``_fmt``); ``{type}`` is the metric's type. ``mean`` only for value
metrics (a conversion metric's events carry no value)."""


def section(result: ExperimentResult) -> str:
    """One experiment's part of the page."""
    decision = result["decision"]
    out = [
        f"<h2>{html.escape(result['name'])} <small>({html.escape(result['key'])}, "
        f"{html.escape(result['status'])})</small></h2>",
        f"<p>{html.escape(phase_line(result))}</p>",
        f"<p class='decision {STATE_CLASS.get(decision['state'], 'neutral')}'>"
        f"<b>{html.escape(decision['state'].replace('_', ' '))}</b> — "
        f"{html.escape(decision['summary'])}</p>",
    ]
    out += [f"<p class=warn>{html.escape(w)}</p>" for w in warnings(result)]
    rows = summary_rows(result)
    for metric in result["metrics"]:
        cols = [
            (f.format(type=metric["type"]), head, style)
            for f, head, style in COLUMNS
            if f != "mean" or metric["type"] == "value"
        ]
        out.append(
            f"<h3>{html.escape(metric_title(metric))}</h3>"
            f"<p class=verdict>{html.escape(metric['verdict'])}</p><table><tr>"
            + "".join(f"<th>{html.escape(head)}</th>" for _, head, _ in cols)
            + "</tr>"
        )
        for row in rows:
            if row["event"] != metric["event"]:
                continue
            out.append(
                "<tr>"
                + "".join(f"<td>{_fmt(row[f], style)}</td>" for f, _, style in cols)
                + "</tr>"
            )
        out.append("</table>")
    if result["metrics"]:
        out.append(
            f"<div class=plots>{rates_plot(result)}{timeline_plot(result)}</div>"
        )
    return "\n".join(out)


def write(results: list[ExperimentResult], path: Path) -> None:
    """Write the report for ``results`` to ``path`` (one file, no external assets)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(section(r) for r in results) or "<p>No experiments.</p>"
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>abflask results"
        f"</title><style>{STYLE}</style><h1>abflask results</h1>"
        f"<p>Generated {stamp}. Verdicts use always-valid (sequential) tests on "
        f"the absolute difference, adjusted across variations and primary and "
        f"secondary metrics; guardrails are tested one-sided on their own.</p>"
        f"{body}</html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
