"""SVG pieces the charts share: the plot area and its scales, axes, lines
with markers, the colour key and the accessible wrapper.

Strings in, strings out: every text and attribute is escaped here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

WIDTH = 480.0
"""Every chart's viewBox width: about its CSS width in the two-column grid of
a 1280 px page, so its text is drawn at about ``FONT`` px there."""
FONT = 14.0
"""Text size in viewBox units; ``style.CSS`` raises it to ``PHONE_FONT`` on a
phone, where the chart is drawn at 0.7 of its size (about 11 px then)."""
PHONE_FONT = 16.0
CHAR = 0.62 * PHONE_FONT
"""Estimated width of a character at the larger font: margins and tick
spacing leave room for it at either size."""
PALETTE = (
    "#5b6475",
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#d55e00",
    "#56b4e9",
    "#000000",
)
"""Control in grey, treatments in the Okabe-Ito colours (told apart with
colour-blindness too); the same colour for a variation in every chart."""
GRID = "#e3e7ee"
INK = "#5b6475"


def colour(index: int) -> str:
    """The colour of variation ``index`` (0 is control)."""
    return PALETTE[index % len(PALETTE)]


def esc(value: object) -> str:
    """Text or an attribute value, escaped for HTML and SVG."""
    return html.escape(str(value), quote=True)


def num(x: float) -> str:
    """A coordinate, to a tenth of a unit."""
    return f"{x:.1f}"


@dataclass(frozen=True)
class Plot:
    """A plot area (SVG units) and the data range it shows."""

    left: float
    top: float
    right: float
    bottom: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / (high - low) * (self.right - self.left)

    def y(self, value: float) -> float:
        low, high = self.y_range
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)

    def box(self) -> str:
        """The plot area's position and size, as SVG attributes."""
        return (
            f'x="{num(self.left)}" y="{num(self.top)}" '
            f'width="{num(self.right - self.left)}" '
            f'height="{num(self.bottom - self.top)}"'
        )

    def frame(self, gid: str) -> str:
        """The plot area's rectangle (its id names the axes)."""
        return (
            f'<rect id="{esc(gid)}" class="plot-area" {self.box()} '
            f'fill="none" stroke="{GRID}"/>'
        )


def decimals(step: float) -> int:
    """Decimals that show every multiple of ``step`` exactly (up to 6)."""
    for places in range(7):
        scaled = step * 10**places
        if abs(scaled - round(scaled)) < 1e-6 * max(1.0, scaled):
            return places
    return 6


def svg(gid: str, title: str, summary: str, height: float, body: str) -> str:
    """An accessible, scalable ``<svg>``: its ``<title>`` is ``title``, its
    ``aria-label`` the title and ``summary`` (the numbers, in words)."""
    label = f"{title}. {summary}" if summary else title
    return (
        f'<svg id="{esc(gid)}" class="chart-svg" viewBox="0 0 {num(WIDTH)} '
        f'{num(height)}" width="100%" role="img" aria-label="{esc(label)}" '
        f'font-family="system-ui, sans-serif" font-size="{num(FONT)}" '
        f'fill="{INK}"><title>{esc(title)}</title>{body}</svg>'
    )


def legend(names: Sequence[str], first: int = 0) -> str:
    """The colour key, as HTML: a swatch and the name of each variation."""
    return (
        '<span class="legend">'
        + "".join(
            f'<span class="key"><i style="background:{colour(first + i)}"></i>'
            f"{esc(name)}</span>"
            for i, name in enumerate(names)
        )
        + "</span>"
    )


def figure(gid: str, caption: str, svg: str) -> str:
    """A chart and its HTML caption (``caption`` is HTML, already escaped)."""
    return (
        f'<figure class="chart" id="{esc(gid)}"><figcaption>{caption}</figcaption>'
        f"{svg}</figure>"
    )


def y_axis(plot: Plot, ticks: Sequence[float], show: list[str]) -> str:
    """Horizontal grid lines at ``ticks``, labelled ``show`` on the left."""
    out = []
    for tick, text in zip(ticks, show, strict=True):
        y = num(plot.y(tick))
        out.append(
            f'<line x1="{num(plot.left)}" x2="{num(plot.right)}" y1="{y}" y2="{y}" '
            f'stroke="{GRID}"/><text x="{num(plot.left - 6)}" y="{y}" dy=".32em" '
            f'text-anchor="end">{esc(text)}</text>'
        )
    return "".join(out)


def x_labels(plot: Plot, ticks: Sequence[float], show: list[str]) -> str:
    """Tick marks at ``ticks`` under the plot, labelled ``show``; a label that
    would run off the chart is aligned to its edge instead of centred."""
    out = []
    for tick, text in zip(ticks, show, strict=True):
        x = plot.x(tick)
        half = len(text) * CHAR / 2
        anchor, at = "middle", x
        if x + half > WIDTH - 2:
            anchor, at = "end", WIDTH - 2
        elif x - half < 2:
            anchor, at = "start", 2.0
        out.append(
            f'<line x1="{num(x)}" x2="{num(x)}" y1="{num(plot.bottom)}" '
            f'y2="{num(plot.bottom + 4)}" stroke="{INK}"/><text x="{num(at)}" '
            f'y="{num(plot.bottom + 18)}" text-anchor="{anchor}">{esc(text)}</text>'
        )
    return "".join(out)


def left_margin(labels: Sequence[str]) -> float:
    """Room for the longest of ``labels`` left of the plot."""
    return max(len(t) for t in labels) * CHAR + 14 if labels else 14.0


def runs(values: Sequence[float | None]) -> Iterator[list[int]]:
    """Indices of the runs of consecutive defined values."""
    run: list[int] = []
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v):
            run.append(i)
        elif run:
            yield run
            run = []
    if run:
        yield run


def series(
    gid: str,
    index: int,
    xs: Sequence[float],
    ys: Sequence[float | None],
    r: float,
    under: bool = False,
) -> str:
    """A line through the defined points, broken where one is missing, and a
    marker on each. An ``under`` line is wide and pale, drawn first, so a
    line on top of it shows both (control's participants under an even
    split's treatments)."""
    width, opacity = (6, ' opacity=".45"') if under else (2, "")
    if under:
        r *= 1.6
    paths, marks = [], []
    for run in runs(ys):
        d = "L".join(f"{num(xs[i])} {num(ys[i] or 0.0)}" for i in run)
        if len(run) > 1:
            paths.append(f"M{d}")
        marks += [
            f'<circle cx="{num(xs[i])}" cy="{num(ys[i] or 0.0)}" r="{r:g}"/>'
            for i in run
        ]
    line = (
        f'<path d="{"".join(paths)}" fill="none" stroke-width="{width}" '
        'stroke-linejoin="round"/>'
        if paths
        else ""
    )
    return (
        f'<g id="{esc(gid)}" class="series" stroke="{colour(index)}" '
        f'fill="{colour(index)}"{opacity}>{line}<g stroke="none">'
        f"{''.join(marks)}</g></g>"
    )
