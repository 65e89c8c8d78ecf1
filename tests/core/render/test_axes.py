"""The charts' axis rules: x range and tick labels from the data, a marker
on every point, a lift axis set by the line and the later band."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from abflask.core.render import axes
from abflask.core.render.axes import (
    BAND_FLOOR,
    DAY,
    HOUR,
    MARGIN,
    MINUTE,
    REACH,
    lift_limits,
    marker_size,
    nice_ticks,
    time_format,
    time_limits,
    time_ticks,
)

T0 = 1_795_000_000  # 2026-11-18 11:06:40 UTC
YEAR = 365 * DAY


# --- the x axis --------------------------------------------------------------


def test_one_point_is_centred_in_one_step() -> None:
    assert time_limits([T0], step=HOUR) == (T0 - HOUR / 2, T0 + HOUR / 2)
    assert time_limits([T0, T0], step=DAY) == (T0 - DAY / 2, T0 + DAY / 2)


@pytest.mark.parametrize("span", [MINUTE, HOUR, DAY, 30 * DAY, YEAR])
def test_the_x_range_spans_the_points_with_a_margin(span: int) -> None:
    times = [T0 + span * i / 10 for i in range(11)]
    low, high = time_limits(times)
    assert (low, high) == pytest.approx((T0 - span * MARGIN, T0 + span * (1 + MARGIN)))
    # The points fill the axis: no year-wide axis for an hour of data.
    assert (max(times) - min(times)) / (high - low) > 0.9


def test_no_points_have_no_range() -> None:
    with pytest.raises(ValueError):
        time_limits([])


@pytest.mark.parametrize(
    ("span", "fmt"),
    [
        (MINUTE, "%H:%M"),
        (HOUR, "%H:%M"),
        (DAY, "%H:%M"),
        (2 * DAY, "%b %d %H:%M"),
        (30 * DAY, "%b %d"),
        (YEAR, "%b %Y"),
        (5 * YEAR, "%Y"),
    ],
)
def test_tick_labels_suit_the_span(span: int, fmt: str) -> None:
    assert time_format(span) == fmt


def test_every_point_gets_a_visible_marker() -> None:
    sizes = [marker_size(n) for n in (1, 2, 20, 21, 80, 81, 200)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] >= 5  # one point alone is easy to see
    assert sizes[-1] >= 2  # 200 points still each drawn


# --- the lift axis -----------------------------------------------------------


def share(value_range: tuple[float, float], low: float, high: float) -> float:
    """The share of the axis ``value_range`` that ``[low, high]`` takes."""
    return (high - low) / (value_range[1] - value_range[0])


def test_an_hour_old_band_does_not_flatten_the_line() -> None:
    """The reported case: a +27% line in a -400%...+600% band."""
    (low, high), clipped = lift_limits([0.25, 0.27], [-4.0, -3.5], [6.0, 5.0])
    reach = 0.27 * REACH
    pad = (0.27 + 2 * reach) * MARGIN
    assert (low, high) == pytest.approx((-reach - pad, 0.27 + reach + pad))
    assert clipped
    assert share((low, high), 0, 0.27) > 0.2  # the line has room to show


def test_a_band_that_fits_is_shown_whole() -> None:
    (low, high), clipped = lift_limits([0.1, 0.2, 0.25], [-0.1, 0.0, 0.1], [0.3] * 3)
    assert not clipped
    assert low < -0.1 and high > 0.3
    assert (low, high) == pytest.approx((-0.1 - 0.02, 0.3 + 0.02))


def test_the_first_quarter_of_the_band_is_left_out() -> None:
    """A year: the first days' band is wide, the rest narrow around +24%."""
    n = 180
    mid = [0.24 + (0.3 if i < 5 else 0.0) * (-1) ** i for i in range(n)]
    width = [3.0 / math.sqrt(i + 1) for i in range(n)]
    low = [m - w for m, w in zip(mid, width, strict=True)]
    high = [m + w for m, w in zip(mid, width, strict=True)]
    value_range, clipped = lift_limits(mid, low, high)
    tail = n - int(n * axes.TAIL)
    later_low, later_high = min(low[tail:]), max(high[tail:])
    assert clipped  # the first days' band runs off the axis
    # The whole line, zero and the later band are in range...
    assert value_range[0] <= min(0.0, *mid, later_low)
    assert value_range[1] >= max(*mid, later_high)
    # ...and nothing more but the margin: the first days' band sets nothing.
    bottom, top = min(0.0, *mid, later_low), max(*mid, later_high)
    pad = (top - bottom) * MARGIN
    assert value_range == pytest.approx((bottom - pad, top + pad))
    assert value_range[0] > min(low) and value_range[1] < max(high)
    assert share(value_range, min(mid), max(mid)) > 0.3


def test_the_band_widens_the_axis_by_at_least_the_floor() -> None:
    """A flat line near zero: the band may still show 2 pp either side."""
    (low, high), clipped = lift_limits([0.001] * 4, [-0.5] * 4, [0.5] * 4)
    pad = (0.001 + 2 * BAND_FLOOR) * MARGIN
    assert (low, high) == pytest.approx((-BAND_FLOOR - pad, 0.001 + BAND_FLOOR + pad))
    assert clipped


def test_the_line_is_always_in_range_even_when_the_band_is_not() -> None:
    mid = [-0.6, -0.2, 0.1, 0.25, 0.24, 0.25, 0.24, 0.25]
    (low, high), _ = lift_limits(mid, [x - 0.05 for x in mid], [x + 0.05 for x in mid])
    assert low < -0.6 and high > 0.25


def test_undefined_points_are_ignored() -> None:
    (low, high), clipped = lift_limits(
        [None, math.nan, 0.1], [None, None, 0.05], [None, math.nan, 0.15]
    )
    assert not clipped
    assert low < 0 < 0.15 < high < 0.2


def test_nothing_defined_gives_a_range_around_zero() -> None:
    (low, high), clipped = lift_limits([None], [None], [None])
    assert low < -BAND_FLOOR / 2 and high > BAND_FLOOR / 2 and not clipped


def test_the_sequences_must_match() -> None:
    with pytest.raises(ValueError):
        lift_limits([0.1], [0.0, 0.0], [0.2])


# --- ticks -------------------------------------------------------------------


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@pytest.mark.parametrize("span", [MINUTE, 10 * MINUTE, HOUR, 5 * HOUR, DAY])
def test_ticks_within_a_day_fall_on_whole_minutes(span: int) -> None:
    start, end = time_limits([T0, T0 + span])
    ticks = time_ticks(start, end, 6)
    assert 1 <= len(ticks) <= 6
    assert all(start <= t <= end and t % MINUTE == 0 for t in ticks)


def test_an_hour_has_ticks_every_ten_minutes() -> None:
    start, end = time_limits([T0, T0 + HOUR])
    labels = [f"{utc(t):%H:%M}" for t in time_ticks(start, end, 7)]
    assert labels == ["11:10", "11:20", "11:30", "11:40", "11:50", "12:00"]


def test_weeks_start_on_monday() -> None:
    start, end = time_limits([T0, T0 + 60 * DAY])
    ticks = time_ticks(start, end, 6)
    assert ticks and all(utc(t).weekday() == 0 and t % DAY == 0 for t in ticks)


@pytest.mark.parametrize(("span", "most"), [(YEAR, 5), (2 * YEAR, 4), (YEAR, 13)])
def test_a_year_has_ticks_on_first_days_of_months(span: int, most: int) -> None:
    start, end = time_limits([T0, T0 + span])
    ticks = time_ticks(start, end, most)
    assert 2 <= len(ticks) <= most
    assert all(utc(t).day == 1 and t % DAY == 0 for t in ticks)


def test_decades_have_ticks_on_new_years_days() -> None:
    start, end = time_limits([T0, T0 + 10 * YEAR])
    ticks = time_ticks(start, end, 6)
    assert ticks and all(f"{utc(t):%m-%d %H:%M}" == "01-01 00:00" for t in ticks)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 1000, [0, 200, 400, 600, 800, 1000]),
        (-0.46, 0.73, [-0.4, -0.2, 0.0, 0.2, 0.4, 0.6]),
        (0.088, 0.147, [0.09, 0.1, 0.11, 0.12, 0.13, 0.14]),
    ],
)
def test_value_ticks_are_round(low: float, high: float, expected: list[float]) -> None:
    assert nice_ticks(low, high, 6) == pytest.approx(expected)


def test_a_count_axis_tops_out_at_a_round_number() -> None:
    assert axes.count_limit(1780) == 2000
    assert axes.count_limit(0) == 10
    assert axes.count_limit(10_000) >= 10_000
