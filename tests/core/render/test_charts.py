"""The charts as SVG: accessible, scalable, every point visible, the axes
the data asks for, and nothing from a name run as markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from abflask.core.render import axes, charts
from tests.core.render.sample import DAY, HOUR, T0, metric, point, result, variation

SVG = "{http://www.w3.org/2000/svg}"


def tree(markup: str) -> ET.Element:
    """The figure as an element tree (the charts are well-formed XML)."""
    return ET.fromstring(markup.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def by_id(root: ET.Element, gid: str) -> ET.Element:
    found = root.find(f".//*[@id='{gid}']")
    assert found is not None, gid
    return found


def circles(group: ET.Element) -> list[ET.Element]:
    return group.findall(f".//{SVG}circle")


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def series(times: list[int], lifts: list[float | None], step: int = HOUR) -> Any:
    points = [
        point(t, 10 * (i + 1), x, 5)
        for i, (t, x) in enumerate(zip(times, lifts, strict=True))
    ]
    return result(
        timeseries={
            "event": "buy",
            "type": "conversion",
            "step": step,
            "points": points,
        }
    )


@pytest.mark.parametrize(
    "draw", [charts.participants_chart, charts.lift_chart], ids=["participants", "lift"]
)
def test_a_chart_is_an_accessible_scalable_image(draw: Any) -> None:
    figure = tree(draw(series([T0, T0 + HOUR], [0.1, 0.2])))
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    assert svg.get("role") == "img"
    assert svg.get("width") == "100%" and svg.get("height") is None
    assert svg.get("viewBox", "").startswith(f"0 0 {charts.WIDTH:g}")
    title = svg.find(f"{SVG}title")
    assert title is not None and title.text
    assert (svg.get("aria-label") or "").startswith(title.text)
    assert figure.find("figcaption") is not None


def test_the_lift_chart_reads_its_numbers_out() -> None:
    label = tree(charts.lift_chart(series([T0, T0 + HOUR], [0.1, 0.27])))
    svg = label.find(f"{SVG}svg")
    assert svg is not None
    assert "green: +27.0%, band [−473.0%, +527.0%]" in (svg.get("aria-label") or "")


def test_a_single_point_is_a_marker_and_its_band_a_bar() -> None:
    figure = tree(charts.participants_chart(series([T0], [0.27])))
    for i in (0, 1):
        assert len(circles(by_id(figure, f"participants-{i}"))) == 1
    lift = tree(charts.lift_chart(series([T0], [0.27])))
    marker = circles(by_id(lift, "lift-1"))
    assert len(marker) == 1 and float(marker[0].get("r", 0)) >= 3
    band = by_id(lift, "band-1")
    assert band.find(f"{SVG}rect") is not None and band.find(f"{SVG}path") is None
    assert "Time (UTC, 2026-11-18)" in texts(lift)
    assert not any(re.fullmatch(r"20\d\d", t) for t in texts(lift))


def test_the_points_span_the_axis() -> None:
    """An hour of data fills the width: no axis from 2025 to 2029."""
    figure = tree(charts.participants_chart(series([T0, T0 + HOUR], [0.1, 0.2])))
    area = by_id(figure, "axes-participants")
    left, width = float(area.get("x", 0)), float(area.get("width", 0))
    xs = [float(c.get("cx", 0)) for c in circles(by_id(figure, "participants-0"))]
    assert max(xs) - min(xs) >= 0.85 * width
    assert left <= min(xs) and max(xs) <= left + width


def test_a_year_has_month_ticks_and_every_point_marked() -> None:
    times = [T0 + 2 * DAY * i for i in range(183)]
    figure = tree(charts.lift_chart(series(times, [0.2] * 183, step=2 * DAY)))
    assert len(circles(by_id(figure, "lift-1"))) == 183
    months = [t for t in texts(figure) if re.fullmatch(r"[A-Z][a-z]{2} 20\d\d", t)]
    assert len(months) >= 3, texts(figure)
    assert "Time (UTC)" in texts(figure)


def test_markers_shrink_as_points_grow_but_stay_visible() -> None:
    for n in (1, 30, 300):
        times = [T0 + HOUR * i for i in range(n)]
        figure = tree(charts.participants_chart(series(times, [0.1] * n)))
        marks = circles(by_id(figure, "participants-1"))
        assert len(marks) == n
        assert {float(c.get("r", 0)) * 2 for c in marks} == {axes.marker_size(n)}


def test_a_lift_never_defined_still_plots_participants() -> None:
    data = series([T0, T0 + HOUR], [None, None])
    assert (
        len(circles(by_id(tree(charts.participants_chart(data)), "participants-0")))
        == 2
    )
    lift = tree(charts.lift_chart(data))
    assert circles(by_id(lift, "lift-1")) == []
    assert by_id(lift, "band-1").find(f"{SVG}path") is None


def test_a_gap_breaks_the_line_and_the_band() -> None:
    data = series([T0 + HOUR * i for i in range(5)], [0.1, 0.2, None, 0.2, 0.3])
    lift = tree(charts.lift_chart(data))
    path = by_id(lift, "lift-1").find(f"{SVG}path")
    assert path is not None and path.get("d", "").count("M") == 2
    assert len(by_id(lift, "band-1").findall(f"{SVG}path")) == 2


def test_the_lift_axis_follows_the_line_and_says_when_the_band_is_cut() -> None:
    """An hour-old band of -400%...+600% around a +27% line."""
    data = series([T0, T0 + HOUR], [0.25, 0.27])
    markup = charts.lift_chart(data)
    ticks = [t for t in texts(tree(markup)) if t.endswith("%")]
    values = [float(t.replace("−", "-").rstrip("%")) for t in ticks]
    assert min(values) >= -50 and max(values) <= 75, ticks
    assert "0%" in ticks
    assert "cut off" in markup
    narrow = series([T0, T0 + HOUR], [0.25, 0.27])
    for p in narrow["timeseries"]["points"]:
        p["lift"][0]["rel_ci_sequential"] = [0.1, 0.4]
    assert "cut off" not in charts.lift_chart(narrow)


def test_names_are_text_not_markup() -> None:
    data = result(variations=["<b>control</b>", 'a&b "green"'])
    data["metrics"][0]["variations"][0]["name"] = "<b>control</b>"
    data["metrics"][0]["event"] = "<script>alert(1)</script>"
    out = charts.charts(data)
    assert "<b>control" not in out and "<script>" not in out
    assert "&lt;b&gt;control&lt;/b&gt;" in out and "a&amp;b &quot;green&quot;" in out
    tree(f"<div>{out}</div>")  # still well-formed


def test_rates_chart_has_a_row_per_variation_with_its_interval() -> None:
    m = metric()
    figure = tree(charts.rates_chart(m, 0, confidence=0.9))
    rows = figure.findall(f".//{SVG}g[@class='variation']")
    assert [r.get("data-name") for r in rows] == ["control", "green"]
    for row in rows:
        assert len(circles(row)) == 1 and row.find(f"{SVG}path") is not None
    title = rows[1].find(f"{SVG}title")
    assert title is not None and title.text == "green: 12.0%, interval 10.0% to 14.0%"
    assert "90% interval" in "".join(figure.itertext())
    ticks = [t for t in texts(figure) if t.endswith("%")]
    assert ticks and all(8 <= float(t.rstrip("%")) <= 16 for t in ticks), ticks


def test_rates_of_a_value_metric_are_means() -> None:
    figure = tree(charts.rates_chart(metric(type="value")))
    assert "mean per participant" in "".join(figure.itertext())
    assert not any(t.endswith("%") for t in texts(figure))


def test_a_variation_without_participants_says_so() -> None:
    m = metric(variations=[variation("control", 0, 0), variation("green", 0, 0)])
    assert "no participants yet" in charts.rates_chart(m)


def test_no_points_no_time_charts() -> None:
    data = result(timeseries={"event": None, "points": []})
    out = charts.charts(data)
    assert "Nothing to draw over time yet" in out
    assert 'id="participants"' not in out and 'id="rates-0"' in out


def test_ids_carry_the_prefix() -> None:
    out = charts.charts(result(), id_prefix="exp-")
    ids = re.findall(r' id="([^"]+)"', out)
    assert ids and all(i.startswith("exp-") for i in ids)
    assert len(ids) == len(set(ids))


def test_live_series_irregular_without_a_step() -> None:
    """Per-minute snapshots thinned over time: uneven gaps, no ``step``."""
    times = [T0 + 60 * i for i in range(0, 120, 1)] + [
        T0 + 3600 * i for i in range(3, 300)
    ]
    data = series(times, [0.1] * len(times))
    del data["timeseries"]["step"]
    figure = tree(charts.lift_chart(data))
    xs = [float(c.get("cx", 0)) for c in circles(by_id(figure, "lift-1"))]
    assert len(xs) == len(times) and xs == sorted(xs)
    # spacing follows time: the minutes are packed, the hours spread out
    assert xs[119] - xs[0] < (xs[-1] - xs[0]) / 50
    one = series([T0], [0.1])
    del one["timeseries"]["step"]
    assert (
        len(circles(by_id(tree(charts.participants_chart(one)), "participants-0"))) == 1
    )


def test_a_point_missing_a_variation_is_left_out() -> None:
    """A variation added to the counts later has no count in older points."""
    data = series([T0, T0 + HOUR], [0.1, 0.2])
    data["timeseries"]["points"][0]["participants"] = [10]
    figure = tree(charts.participants_chart(data))
    assert len(circles(by_id(figure, "participants-1"))) == 1
