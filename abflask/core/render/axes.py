"""Axis rules of the charts: ranges, ticks and tick labels, set by the data.

The time axis spans the points (an hour of data fills it as a year does), its
ticks fall on round UTC times; the lift axis is set by the line and the later
band, not by the first minutes' wide band; every point gets a marker. Pure
arithmetic: ``charts`` draws with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

MINUTE, HOUR, DAY = 60, 3600, 86400
"""Seconds."""
TAIL = 0.75
"""The lift axis follows the band over this last share of points."""
REACH = 1.5
"""How far the band may widen the lift axis beyond the line, each side, in
multiples of the line's extent (zero included)."""
BAND_FLOOR = 0.02
"""The least the band may widen the lift axis beyond the line, each side (2 pp)."""
MARGIN = 0.05
"""Space added on each side of a range, as a share of its width."""
FIXED_STEPS = (
    *(MINUTE * n for n in (1, 2, 5, 10, 15, 30)),
    *(HOUR * n for n in (1, 2, 3, 6, 12)),
    *(DAY * n for n in (1, 2, 7, 14)),
)
"""Seconds between time ticks, up to a fortnight; months and years beyond."""
MONDAY = 4 * DAY
"""1970-01-05, a Monday: weekly ticks fall on Mondays."""


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


def _calendar_ticks(start: float, end: float, months: int) -> list[float]:
    """First days of months (a multiple of ``months`` from January) in range."""
    first = datetime.fromtimestamp(start, UTC)
    index = first.year * 12 + first.month - 1
    ticks: list[float] = []
    while True:
        year, month = divmod(index, 12)
        t = datetime(year, month + 1, 1, tzinfo=UTC).timestamp()
        if t > end:
            return ticks
        if months < 12:
            round_month = month % months == 0
        else:
            round_month = month == 0 and year % (months // 12) == 0
        if t >= start and round_month:
            ticks.append(t)
        index += 1


def time_ticks(start: float, end: float, most: int = 6) -> list[float]:
    """At most ``most`` (at least 2 where the range allows) round UTC times in
    ``[start, end]``, the step matching ``time_format``'s labels: whole
    minutes, hours, days (weeks from Monday), first days of months, years."""
    span = end - start
    fmt = time_format(span)
    if fmt in ("%b %Y", "%Y"):
        steps = (1, 2, 3, 6) if fmt == "%b %Y" else ()
        choices = [*steps, *(12 * n for n in (1, 2, 5, 10, 20, 50, 100))]
        ticks: list[float] = []
        for months in choices:
            ticks = _calendar_ticks(start, end, months)
            if len(ticks) <= most:
                return ticks
        return ticks[:1]
    least = {"%H:%M": MINUTE, "%b %d %H:%M": HOUR}.get(fmt, DAY)
    step = next(
        (s for s in FIXED_STEPS if s >= least and span / s <= most), FIXED_STEPS[-1]
    )
    offset = MONDAY if step % (7 * DAY) == 0 else 0
    first = math.ceil((start - offset) / step) * step + offset
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def tick_label(t: float, fmt: str) -> str:
    """A time tick's label in UTC."""
    return datetime.fromtimestamp(t, UTC).strftime(fmt)


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round numbers (1, 2, 2.5 or 5 times a power of ten apart) in
    ``[low, high]``, at most ``most`` of them."""
    if not high > low:
        return [low]
    power = 10 ** math.floor(math.log10((high - low) / max(most, 1)))
    for factor in (1, 2, 2.5, 5, 10, 20):
        step = factor * power
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if last - first + 1 <= most:
            break
    return [k * step for k in range(first, last + 1)]


def count_limit(largest: float) -> float:
    """The top of an axis of counts from zero: a round number at or above
    ``largest`` (10 when there is nothing to count)."""
    if largest <= 0:
        return 10.0
    ticks = nice_ticks(0, largest * (1 + MARGIN), 5)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else largest
    return math.ceil(largest * (1 + MARGIN / 2) / step) * step


def marker_size(points: int) -> float:
    """Marker diameter (SVG units, about CSS px) for a line of ``points``:
    every point is drawn, one alone big enough to see, many small enough not
    to hide the line."""
    if points <= 20:
        return 8.0
    if points <= 80:
        return 6.0
    return 4.0


def finite(values: Iterable[float | None]) -> list[float]:
    """The finite numbers among ``values``."""
    return [v for v in values if v is not None and math.isfinite(v)]


def padded(low: float, high: float) -> tuple[float, float]:
    """``[low, high]`` with ``MARGIN`` added each side (a point gets a width)."""
    if high == low:
        half = abs(low) * 0.1 or 1.0
        return low - half, high + half
    pad = (high - low) * MARGIN
    return low - pad, high + pad


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
    line = [0.0, *finite(mid)]
    bottom, top = min(line), max(line)
    reach = max((top - bottom) * REACH, BAND_FLOOR)
    first = math.floor(len(mid) * (1 - TAIL))
    band_low = finite(low[first:])
    band_high = finite(high[first:])
    if band_low:
        bottom = min(bottom, max(min(band_low), bottom - reach))
    if band_high:
        top = max(top, min(max(band_high), top + reach))
    if top == bottom:  # a line at zero and no band: a range around zero
        bottom, top = -BAND_FLOOR, BAND_FLOOR
    pad = (top - bottom) * MARGIN
    bottom, top = bottom - pad, top + pad
    clipped = any(v < bottom for v in finite(low)) or any(v > top for v in finite(high))
    return (bottom, top), clipped
