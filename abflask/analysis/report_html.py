"""The HTML report: one self-contained page with tables and inline SVG plots.

Plots per experiment: conversion rate with its 95% interval per variation
(one panel per metric), cumulative participants over time, and cumulative
relative lift over time with the always-valid (sequential) band.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: cron and CI have none

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.dates import AutoDateLocator, DateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from abflask.analysis.report_text import (  # noqa: E402
    metric_title,
    phase_line,
    summary_rows,
    warnings,
)
from abflask.core.stats.schema import ExperimentResult  # noqa: E402

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
.neutral{background:#f3f4f6}
.plots{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.plots svg{max-width:100%;height:auto}
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
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
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
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.margins(x=0.3)
    fig.tight_layout()
    return _svg(fig)


MINUTE, HOUR, DAY = 60, 3600, 86400
"""Seconds."""
TAIL = 0.75
"""The lift plot's y range follows the band over this last share of points."""
REACH = 1.5
"""How far the band may widen the lift axis beyond the line, each side, in
multiples of the line's extent (zero included)."""
BAND_FLOOR = 0.02
"""The least the band may widen the lift axis beyond the line, each side (2 pp)."""
MARGIN = 0.05
"""Space added on each side of a range, as a share of its width."""


def time_limits(times: Sequence[float], step: float = HOUR) -> tuple[float, float]:
    """The x range (epoch seconds) of a time plot: the points and a margin.

    One point (or all at one instant) is centred in one ``step``; more are
    spanned with ``MARGIN`` of their span on each side, so an hour of data
    fills the axis as a year does.
    """
    if not times:
        raise ValueError("no points")
    low, high = min(times), max(times)
    if high == low:
        return low - step / 2, high + step / 2
    pad = (high - low) * MARGIN
    return low - pad, high + pad


def time_format(span: float) -> str:
    """The tick labels' strftime format for an x axis ``span`` seconds wide (UTC).

    Minutes within a day, day and hour up to three days, days up to three
    months, months up to three years, years beyond.
    """
    if span <= DAY:
        return "%H:%M"
    if span <= 3 * DAY:
        return "%b %d %H:%M"
    if span <= 92 * DAY:
        return "%b %d"
    if span <= 3 * 366 * DAY:
        return "%b %Y"
    return "%Y"


def marker_size(points: int) -> float:
    """Marker diameter (pt) for a line of ``points``: every point is drawn, one
    alone big enough to see, many small enough not to hide the line."""
    if points <= 20:
        return 6.0
    if points <= 80:
        return 4.0
    return 2.5


def _finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def lift_limits(
    mid: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
) -> tuple[tuple[float, float], bool]:
    """The lift plot's y range, and whether it clips the band.

    The range covers zero and the whole lift line, and the always-valid band
    of the later ``TAIL`` of points (the first quarter's band, wide while
    few users are in, is left out). The band may widen the range beyond the
    line by at most ``REACH`` times the line's own extent (zero included),
    and at least ``BAND_FLOOR``, on each side: an hour-old band of
    -400%...+600% must not flatten a +27% line (the axis goes from -46% to
    +73%). ``MARGIN`` is added on each side. The flag is set when some of
    the band, at any point, lies outside the range. Each sequence has one
    entry per point (None or NaN where undefined).
    """
    if not len(mid) == len(low) == len(high):
        raise ValueError("mid, low and high differ in length")
    line = [0.0, *_finite(mid)]
    bottom, top = min(line), max(line)
    reach = max((top - bottom) * REACH, BAND_FLOOR)
    first = math.floor(len(mid) * (1 - TAIL))
    band_low = _finite(low[first:])
    band_high = _finite(high[first:])
    if band_low:
        bottom = min(bottom, max(min(band_low), bottom - reach))
    if band_high:
        top = max(top, min(max(band_high), top + reach))
    if top == bottom:  # a line at zero and no band: a range around zero
        bottom, top = -BAND_FLOOR, BAND_FLOOR
    pad = (top - bottom) * MARGIN
    bottom, top = bottom - pad, top + pad
    clipped = any(v < bottom for v in _finite(low)) or any(
        v > top for v in _finite(high)
    )
    return (bottom, top), clipped


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def timeline_plot(result: ExperimentResult) -> str:
    """Cumulative participants, and relative lift with the sequential band.

    Both share an x axis spanning the points (``time_limits``, labelled by
    ``time_format``); every point has a marker, so one point shows; the lift
    axis is ``lift_limits``. The lines carry SVG ids
    ``<key>-participants-<i>`` and ``<key>-lift-<i>`` (variation index), the
    axes ``<key>-axes-participants`` and ``<key>-axes-lift``.
    """
    key = result["key"]
    series = result["timeseries"]
    points = series["points"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.patch.set_gid(f"{key}-axes-participants")
    bottom.patch.set_gid(f"{key}-axes-lift")
    times = [p["t"] for p in points]
    when = [datetime.fromtimestamp(t, UTC) for t in times]
    size = marker_size(len(points))
    mids: list[float | None] = []
    lows: list[float | None] = []
    highs: list[float | None] = []
    for i, name in enumerate(result["variations"]):
        top.plot(
            when,
            [p["participants"][i] for p in points],
            marker="o",
            markersize=size,
            label=name,
            gid=f"{key}-participants-{i}",
        )
        if i == 0:
            continue
        lift = [p["lift"][i - 1] for p in points]
        mid = [x["rel_lift"] for x in lift]
        low = [x["rel_ci_sequential"][0] for x in lift]
        high = [x["rel_ci_sequential"][1] for x in lift]
        mids += mid
        lows += low
        highs += high
        (line,) = bottom.plot(
            when,
            [_nan(x) for x in mid],
            marker="o",
            markersize=size,
            label=f"{name} vs {result['variations'][0]}",
            gid=f"{key}-lift-{i}",
        )
        if len(points) == 1:  # a band of one point has no width: a bar
            bars = bottom.errorbar(
                when,
                [_nan(x) for x in mid],
                yerr=[
                    [_nan(m) - _nan(x) for m, x in zip(mid, low, strict=True)],
                    [_nan(x) - _nan(m) for m, x in zip(mid, high, strict=True)],
                ],
                fmt="none",
                capsize=8,
                elinewidth=6,
                alpha=0.35,
                color=line.get_color(),
            )
            bars.lines[2][0].set_gid(f"{key}-band-{i}")
        else:
            bottom.fill_between(
                when,
                [_nan(x) for x in low],
                [_nan(x) for x in high],
                alpha=0.2,
                color=line.get_color(),
                linewidth=0,
                gid=f"{key}-band-{i}",
            )
    top.set_ylabel("participants (cumulative)")
    top.set_ylim(bottom=0)
    top.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    top.legend(loc="lower right")  # cumulative counts rise to the upper right
    bottom.axhline(0, color="#888", linewidth=1)
    kind = series.get("type", "conversion")
    bottom.set_ylabel(f"relative lift on {series.get('event') or '—'} ({kind})")
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0))
    if mids:
        (y_low, y_high), clipped = lift_limits(mids, lows, highs)
        bottom.set_ylim(y_low, y_high)
        if clipped:
            bottom.set_title(
                "the always-valid band is cut off where it is wider than the axis",
                loc="right",
                fontsize=8,
                color="#555",
            )
    if len(result["variations"]) > 1:
        bottom.legend(loc="best")
    if times:
        start, end = time_limits(times, float(series.get("step", HOUR)))
        bottom.set_xlim(
            datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
        )
        bottom.xaxis.set_major_locator(
            AutoDateLocator(tz=UTC, maxticks=9)  # type: ignore[no-untyped-call]
        )
        bottom.xaxis.set_major_formatter(
            DateFormatter(time_format(end - start), tz=UTC)  # type: ignore[no-untyped-call]
        )
        first = datetime.fromtimestamp(start, UTC)
        day = f", {first:%Y-%m-%d}" if end - start <= DAY else ""
        bottom.set_xlabel(f"time (UTC{day})")
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
