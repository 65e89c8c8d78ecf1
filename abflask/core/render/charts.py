"""Charts of a result as inline SVG: no script, no assets, readable on a phone.

Three kinds, each a ``<figure>`` whose caption (HTML, so it wraps and keeps
its size on a phone) says what is drawn and names the colours: the rate or
mean of every variation with its interval (one per metric), cumulative
participants per variation, and the cumulative relative lift of each
treatment with its always-valid band. The SVGs scale to their box (viewBox,
``width="100%"``); each is a ``role="img"`` with a ``<title>`` and an
``aria-label`` that reads the numbers out. Axis rules are in ``axes``.
"""

from __future__ import annotations

from collections.abc import Sequence

from abflask.core.render import axes, svg
from abflask.core.render import format as fmt
from abflask.core.render.svg import (
    CHAR,
    INK,
    WIDTH,
    Plot,
    colour,
    decimals,
    esc,
    legend,
    num,
)
from abflask.core.stats.schema import ExperimentResult, MetricResult, TimePoint

TIME_HEIGHT = 230.0
"""Height of a time chart (viewBox units)."""
ROW = 30.0
"""Height of one variation's row in a rates chart."""


def _level(confidence: float | None) -> str:
    """``95% `` (with a space), or nothing when the level is unknown."""
    return "" if confidence is None else fmt.percent(confidence, 0) + " "


# -- rates --------------------------------------------------------------------


def _short(name: str, most: int = 16) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"


def rates_chart(
    metric: MetricResult,
    index: int = 0,
    *,
    confidence: float | None = 0.95,
    id_prefix: str = "",
) -> str:
    """Each variation's conversion rate (or mean per participant, for a value
    metric) with its interval, one row per variation; the control's interval
    is shaded across the rows, so a treatment outside it stands out."""
    value = metric["type"] == "value"
    rows = []
    for v in metric["variations"]:
        centre = fmt.finite(v.get("mean") if value else v.get("conversion_rate"))
        ci = (v.get("mean_ci") if value else v.get("conversion_rate_ci")) or []
        low, high = (fmt.finite(c) for c in (list(ci) + [None, None])[:2])
        rows.append((v["name"], centre, low, high))
    show = fmt.number if value else fmt.percent
    known = axes.finite(x for _, *nums in rows for x in nums)
    bottom = 8 + ROW * max(len(rows), 1)
    names = [_short(name) for name, *_ in rows]
    left = max(svg.left_margin(names) + 6, 60.0)
    x_range = axes.padded(min(known), max(known)) if known else (0.0, 1.0)
    if not value and x_range[1] > x_range[0]:
        x_range = (max(0.0, x_range[0]), min(1.0, x_range[1]))
        if x_range[1] <= x_range[0]:
            x_range = (0.0, 1.0)
    plot = Plot(left, 8, WIDTH - 16, bottom, x_range, (0.0, 1.0))
    ticks = axes.nice_ticks(*x_range, most=5)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    places = decimals(step * (1 if value else 100))
    body = [plot.frame(f"{id_prefix}axes-rates-{index}")]
    body.append(svg.x_labels(plot, ticks, [show(t, places) for t in ticks]))
    control = rows[0] if rows else None
    if control and control[2] is not None and control[3] is not None:
        x0, x1 = plot.x(control[2]), plot.x(control[3])
        body.append(
            f'<rect class="control-band" x="{num(x0)}" y="{num(plot.top)}" '
            f'width="{num(max(x1 - x0, 1))}" height="{num(plot.bottom - plot.top)}" '
            f'fill="{colour(0)}" fill-opacity=".1"/>'
        )
    summary = []
    for i, (name, centre, low, high) in enumerate(rows):
        y = plot.top + ROW * (i + 0.5)
        words = f"{name}: {show(centre)}"
        if low is not None and high is not None:
            words += f", interval {show(low)} to {show(high)}"
        summary.append(words)
        parts = [
            f'<text x="{num(left - 8)}" y="{num(y)}" dy=".32em" '
            f'text-anchor="end" fill="#1d2330">{esc(names[i])}</text>'
        ]
        if centre is None:
            parts.append(
                f'<text x="{num(plot.left + 6)}" y="{num(y)}" dy=".32em">'
                "no participants yet</text>"
            )
        else:
            if low is not None and high is not None:
                a, b = num(plot.x(low)), num(plot.x(high))
                parts.append(
                    f'<path d="M{a} {num(y)}H{b}M{a} {num(y - 6)}V{num(y + 6)}'
                    f'M{b} {num(y - 6)}V{num(y + 6)}" stroke="{colour(i)}" '
                    'stroke-width="2" fill="none"/>'
                )
            parts.append(
                f'<circle cx="{num(plot.x(centre))}" cy="{num(y)}" r="5" '
                f'fill="{colour(i)}"/>'
            )
        body.append(
            f'<g class="variation" data-name="{esc(name)}"><title>'
            f"{esc(words)}</title>{''.join(parts)}</g>"
        )
    level = _level(confidence)
    kind = fmt.words(metric["type"], fmt.TYPES)
    title = f"{metric['event']}: {kind} per variation, with {level}intervals"
    drawn = svg.svg(
        f"{id_prefix}rates-{index}",
        title,
        "; ".join(summary),
        bottom + 26,
        "".join(body),
    )
    caption = (
        f"<b>{esc(metric['event'])}</b>: {esc(kind)} per variation, with its "
        f"{esc(level)}interval"
    )
    return svg.figure(f"{id_prefix}chart-rates-{index}", caption, drawn)


# -- over time ----------------------------------------------------------------


def _time_plot(
    points: Sequence[TimePoint],
    step: float,
    y_labels: list[str],
    y_range: tuple[float, float],
) -> Plot:
    start, end = axes.time_limits([p["t"] for p in points], step)
    left = svg.left_margin(y_labels)
    return Plot(left, 10, WIDTH - 14, TIME_HEIGHT - 44, (start, end), y_range)


def _time_axis(plot: Plot) -> str:
    start, end = plot.x_range
    pattern = axes.time_format(end - start)
    wide = len(axes.tick_label(start, pattern)) * CHAR + 14
    most = max(2, int((plot.right - plot.left) // wide))
    ticks = axes.time_ticks(start, end, most)
    labels = [axes.tick_label(t, pattern) for t in ticks]
    day = f", {axes.tick_label(start, '%Y-%m-%d')}" if end - start <= axes.DAY else ""
    return svg.x_labels(plot, ticks, labels) + (
        f'<text x="{num((plot.left + plot.right) / 2)}" y="{num(plot.bottom + 36)}" '
        f'text-anchor="middle">Time (UTC{day})</text>'
    )


def _step(result: ExperimentResult) -> float:
    return float(result["timeseries"].get("step", axes.HOUR))


def participants_chart(result: ExperimentResult, *, id_prefix: str = "") -> str:
    """Cumulative participants per variation over time, from zero."""
    points = result["timeseries"]["points"]
    names = result["variations"]
    counts = [
        [p["participants"][i] if i < len(p["participants"]) else None for p in points]
        for i in range(len(names))
    ]
    top = axes.count_limit(
        max(axes.finite(c for row in counts for c in row), default=0)
    )
    ticks = axes.nice_ticks(0, top, 5)
    labels = [fmt.count(t) for t in ticks]
    plot = _time_plot(points, _step(result), labels, (0.0, top))
    xs = [plot.x(p["t"]) for p in points]
    size = axes.marker_size(len(points)) / 2
    body = [
        svg.y_axis(plot, ticks, labels),
        plot.frame(f"{id_prefix}axes-participants"),
    ]
    # Control wide and pale: with an even split the lines lie on each other.
    for i, row in enumerate(counts):
        ys = [None if c is None else plot.y(c) for c in row]
        gid = f"{id_prefix}participants-{i}"
        body.append(svg.series(gid, i, xs, ys, size, under=i == 0))
    body.append(_time_axis(plot))
    last = points[-1]
    summary = ", ".join(
        f"{name} {fmt.count(n)}"
        for name, n in zip(names, last["participants"], strict=False)
    )
    title = "Participants so far, per variation"
    drawn = svg.svg(
        f"{id_prefix}participants",
        title,
        f"{summary} at {fmt.when(last['t'])}; {len(points)} points",
        TIME_HEIGHT,
        "".join(body),
    )
    caption = f"<b>Participants</b>, cumulative {legend(names)}"
    return svg.figure(f"{id_prefix}chart-participants", caption, drawn)


def lift_chart(result: ExperimentResult, *, id_prefix: str = "") -> str:
    """Cumulative relative lift of each treatment against control, with its
    always-valid band; the y axis is ``axes.lift_limits``."""
    series = result["timeseries"]
    points = series["points"]
    names = result["variations"]
    lines = []
    for i in range(1, len(names)):
        lift = [p["lift"][i - 1] if len(p["lift"]) >= i else None for p in points]
        mid = [x["rel_lift"] if x else None for x in lift]
        low = [
            fmt.finite((x["rel_ci_sequential"] or [None])[0]) if x else None
            for x in lift
        ]
        high = [
            fmt.finite((x["rel_ci_sequential"] or [None, None])[-1]) if x else None
            for x in lift
        ]
        lines.append((i, mid, low, high))
    (bottom, top), clipped = axes.lift_limits(
        [m for _, mid, _, _ in lines for m in mid],
        [v for _, _, low, _ in lines for v in low],
        [v for _, _, _, high in lines for v in high],
    )
    ticks = axes.nice_ticks(bottom, top, 6)
    places = decimals((ticks[1] - ticks[0]) * 100) if len(ticks) > 1 else 1
    labels = [fmt.lift(t, places) if t else "0%" for t in ticks]
    plot = _time_plot(points, _step(result), labels, (bottom, top))
    clip = f"{id_prefix}clip-lift"
    xs = [plot.x(p["t"]) for p in points]
    size = axes.marker_size(len(points)) / 2
    body = [
        svg.y_axis(plot, ticks, labels),
        f'<clipPath id="{esc(clip)}"><rect {plot.box()}/></clipPath>',
        plot.frame(f"{id_prefix}axes-lift"),
        f'<line x1="{num(plot.left)}" x2="{num(plot.right)}" y1="{num(plot.y(0))}" '
        f'y2="{num(plot.y(0))}" stroke="{INK}"/>',
    ]
    summary = []
    for i, mid, low, high in lines:
        body.append(_band(f"{id_prefix}band-{i}", i, plot, xs, low, high, clip, size))
        ys = [None if m is None else plot.y(m) for m in mid]
        body.append(
            f'<g clip-path="url(#{esc(clip)})">'
            + svg.series(f"{id_prefix}lift-{i}", i, xs, ys, size)
            + "</g>"
        )
        latest = next(
            (j for j in range(len(mid) - 1, -1, -1) if mid[j] is not None), None
        )
        if latest is not None:
            summary.append(
                f"{names[i]}: {fmt.lift(mid[latest])}, band "
                f"{fmt.interval([low[latest], high[latest]])}, "
                f"at {fmt.when(points[latest]['t'])}"
            )
    body.append(_time_axis(plot))
    metric = series.get("event") or "—"
    level = _level(fmt.confidence(result["settings"]))
    kind = fmt.words(series.get("type", "conversion"), fmt.TYPES)
    title = (
        f"Lift on {metric} ({kind}) against {names[0]}, cumulative, "
        "with its always-valid band"
    )
    drawn = svg.svg(
        f"{id_prefix}lift",
        title,
        "; ".join(summary) or "no lift yet",
        TIME_HEIGHT,
        "".join(body),
    )
    caption = (
        f"<b>Lift</b> on {esc(metric)} against {esc(names[0])}, cumulative; "
        f"shaded: its always-valid {esc(level)}interval {legend(names[1:], 1)}"
    )
    if clipped:
        caption += (
            '<small class="clipped">The band is cut off where it is wider than the '
            "axis.</small>"
        )
    return svg.figure(f"{id_prefix}chart-lift", caption, drawn)


def _band(
    gid: str,
    index: int,
    plot: Plot,
    xs: Sequence[float],
    low: Sequence[float | None],
    high: Sequence[float | None],
    clip: str,
    size: float,
) -> str:
    """The always-valid band: an area over each run of points, a bar for a
    point alone."""
    both = [
        None if lo is None or hi is None else 0.0
        for lo, hi in zip(low, high, strict=True)
    ]
    shapes = []
    for run in svg.runs(both):
        top = [f"{num(xs[i])} {num(plot.y(high[i] or 0.0))}" for i in run]
        under = [f"{num(xs[i])} {num(plot.y(low[i] or 0.0))}" for i in reversed(run)]
        if len(run) > 1:
            shapes.append(f'<path d="M{"L".join(top + under)}Z"/>')
        else:
            i = run[0]
            y0, y1 = plot.y(high[i] or 0.0), plot.y(low[i] or 0.0)
            half = max(size * 1.5, 5.0)
            shapes.append(
                f'<rect x="{num(xs[i] - half)}" y="{num(y0)}" width="{num(2 * half)}" '
                f'height="{num(max(y1 - y0, 1.0))}"/>'
            )
    return (
        f'<g id="{esc(gid)}" class="band" clip-path="url(#{esc(clip)})" '
        f'fill="{colour(index)}" fill-opacity=".2">{"".join(shapes)}</g>'
    )


def charts(result: ExperimentResult, *, id_prefix: str = "") -> str:
    """Every chart of a result: participants and lift over time, then the
    rates of each metric; a sentence instead where there is nothing to draw."""
    out = []
    if result["timeseries"]["points"]:
        out.append(participants_chart(result, id_prefix=id_prefix))
        if len(result["variations"]) > 1:
            out.append(lift_chart(result, id_prefix=id_prefix))
    else:
        out.append('<p class="empty">Nothing to draw over time yet.</p>')
    level = fmt.confidence(result["settings"])
    out += [
        rates_chart(m, i, confidence=level, id_prefix=id_prefix)
        for i, m in enumerate(result["metrics"])
    ]
    return f'<div class="charts">{"".join(out)}</div>'
