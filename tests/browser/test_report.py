"""The job's HTML report in Chromium: its plots are there and readable for an
experiment a minute, an hour and a year old, at 1280 px and on a phone.

Each test writes a CSV log, runs ``abflask.analysis.main`` on it with
``--html``, opens the file and measures the SVG elements the browser drew.
The hour and the year are saved as ``report-1h.png`` and ``report-1y.png``
(``--screenshots``; ``make screenshots`` puts them in ``docs/screenshots``).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from abflask import analysis
from abflask.analysis import report_html
from abflask.core.render import axes, charts

pytestmark = pytest.mark.browser

KEY = "checkout"
T0 = 1_795_000_000  # 2026-11-18 11:06:40 UTC
MINUTE, HOUR, YEAR = 60, 3600, 365 * 86400


def write_log(path: Path, age: int, users: int, seed: int = 7) -> Path:
    """A CSV log: ``users`` exposed evenly over ``age`` seconds from ``T0``,
    control converting at 20%, treatment at 25% (a +25% lift), each purchase
    up to a tenth of ``age`` after the exposure."""
    rng = random.Random(seed)
    rows = ["user_id,variation,event,value,timestamp"]
    for i in range(users):
        variation = ("control", "treatment")[i % 2]
        exposed = T0 + i * age // users
        rows.append(f"{i:016x},{variation},$exposure,,{exposed}")
        if rng.random() < (0.25 if variation == "treatment" else 0.20):
            bought = min(exposed + rng.randrange(age // 10 + 1), T0 + age - 1)
            rows.append(f"{i:016x},,buy,{rng.randint(5, 50)},{bought}")
    path.write_text("\n".join(rows) + "\n")
    return path


def report(
    env: Path, capsys: pytest.CaptureFixture[str], age: int, users: int
) -> tuple[Path, dict[str, Any]]:
    """The HTML report of a ``write_log`` experiment, and its result."""
    html = env / "report.html"
    argv = [
        "--input",
        str(write_log(env / "log.csv", age, users)),
        "--experiment",
        KEY,
        "--variations",
        "control,treatment",
        "--metrics",
        "buy",
        "--html",
        str(html),
        "--no-write",
        "--format",
        "json",
    ]
    assert analysis.main(argv) == 0
    [result] = json.loads(capsys.readouterr().out)["experiments"]
    return html, result


class Generated(datetime):
    """``datetime`` whose ``now`` is ``at`` (epoch seconds)."""

    at = float(T0)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Generated:
        return cls.fromtimestamp(cls.at, tz)


RECTS = """selector => [...document.querySelectorAll(selector)].map(e => {
    const r = e.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height};
})"""


def rects(page: Page, selector: str) -> list[dict[str, float]]:
    """The rendered boxes of the elements ``selector`` finds."""
    found: list[dict[str, float]] = page.evaluate(RECTS, selector)
    return found


def inside(rect: dict[str, float], box: dict[str, float]) -> bool:
    """The centre of ``rect`` lies within ``box``."""
    x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
    return bool(
        box["x"] <= x <= box["x"] + box["width"]
        and box["y"] <= y <= box["y"] + box["height"]
    )


def check_series(page: Page, line: str, axes: str, points: int) -> None:
    """``points`` visible markers on ``line``, inside ``axes``; more than one
    spread over at least half its width (the x axis spans the data)."""
    [box] = rects(page, f"[id='{axes}']")
    assert box["width"] > 200 and box["height"] > 80, box
    markers = rects(page, f"[id='{line}'] circle")
    assert len(markers) == points, (line, len(markers), points)
    for marker in markers:
        assert marker["width"] >= 3 and marker["height"] >= 3, (line, marker)
        assert inside(marker, box), (line, marker, box)
    if points > 1:
        centres = [m["x"] + m["width"] / 2 for m in markers]
        assert max(centres) - min(centres) >= box["width"] / 2, (line, centres, box)


def check_report(page: Page, html: Path, result: dict[str, Any]) -> None:
    """Open ``html`` and check the plots of ``result``, its only experiment."""
    page.goto(html.as_uri())
    svgs = page.locator("svg")
    assert svgs.count() == 2 + len(result["metrics"])
    for i in range(svgs.count()):
        assert svgs.nth(i).is_visible()
        box = svgs.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80, box
    for name in ("participants", "lift"):
        box = page.locator(f"svg[id='{KEY}-{name}']").bounding_box()
        assert box is not None and box["height"] > 200, (name, box)
    points = result["timeseries"]["points"]
    assert points, "the experiment has no time series"
    for i in (0, 1):
        participants = f"{KEY}-participants-{i}"
        check_series(page, participants, f"{KEY}-axes-participants", len(points))
    defined = sum(p["lift"][0]["rel_lift"] is not None for p in points)
    check_series(page, f"{KEY}-lift-1", f"{KEY}-axes-lift", defined)
    # The band: an area, or for a single point a bar.
    bands = rects(page, f"[id='{KEY}-band-1'] :is(path, rect)")
    assert bands and all(b["height"] > 0 and b["width"] > 0 for b in bands), bands


NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def check_phone(page: Page, html: Path) -> None:
    """At 390 px nothing scrolls sideways and each table row is a block."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(html.as_uri())
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    header = page.locator("table.results thead").first.bounding_box()
    assert header is not None and header["height"] <= 1, header
    cell = page.locator("table.results td[data-label='Lift']").nth(1)
    assert cell.evaluate("e => getComputedStyle(e).display") == "flex"
    for box in rects(page, "table.results, figure.chart"):
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box


@pytest.mark.parametrize(
    ("age", "users", "screenshot"),
    [
        (MINUTE, 400, None),
        (HOUR, 4_000, "report-1h.png"),
        (YEAR, 20_000, "report-1y.png"),
    ],
    ids=["1-minute", "1-hour", "1-year"],
)
def test_report_plots_are_visible(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    page: Page,
    monkeypatch: pytest.MonkeyPatch,
    age: int,
    users: int,
    screenshot: str | None,
    screenshots: Path,
) -> None:
    if screenshot:  # the same picture every run: generated as the log ends
        monkeypatch.setattr(Generated, "at", T0 + age)
        monkeypatch.setattr(report_html, "datetime", Generated)
    html, result = report(env, capsys, age, users)
    check_report(page, html, result)
    if screenshot:
        page.screenshot(path=screenshots / screenshot, full_page=True)
    check_phone(page, html)


def timeline_text(page: Page, html: Path) -> list[str]:
    """The texts of the lift chart (tick labels and the axis title)."""
    page.goto(html.as_uri())
    return page.locator(f"svg[id='{KEY}-lift'] text").all_text_contents()


def test_an_hour_old_report_shows_hours_and_minutes_of_one_day(
    env: Path, capsys: pytest.CaptureFixture[str], page: Page
) -> None:
    texts = timeline_text(page, report(env, capsys, HOUR, 4_000)[0])
    assert "Time (UTC, 2026-11-18)" in texts
    assert "12:30" in texts
    assert not any("2027" in t or "2029" in t for t in texts), texts


def test_a_year_old_report_shows_months(
    env: Path, capsys: pytest.CaptureFixture[str], page: Page
) -> None:
    texts = timeline_text(page, report(env, capsys, YEAR, 20_000)[0])
    assert "Time (UTC)" in texts
    assert "Jan 2027" in texts or "Apr 2027" in texts, texts


def test_the_checks_fail_on_an_axis_spanning_years(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    page: Page,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old bug: a month of data on an axis from 2024 to 2028."""
    monkeypatch.setattr(
        axes, "time_limits", lambda times, step: (T0 - 2 * YEAR, T0 + 2 * YEAR)
    )
    html, result = report(env, capsys, YEAR // 12, 2_000)
    with pytest.raises(AssertionError, match="participants"):
        check_report(page, html, result)


def test_the_checks_fail_on_invisible_points(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    page: Page,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old bug: one point drawn as a line of no length, without a marker."""
    monkeypatch.setattr(axes, "marker_size", lambda points: 0.0)
    html, result = report(env, capsys, MINUTE, 400)
    with pytest.raises(AssertionError, match="participants"):
        check_report(page, html, result)


def test_the_checks_fail_on_a_plot_without_points(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    page: Page,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draw = charts.charts

    def empty(result: Any, *, id_prefix: str = "") -> str:
        series = {**result["timeseries"], "points": []}
        return draw({**result, "timeseries": series}, id_prefix=id_prefix)

    monkeypatch.setattr(charts, "charts", empty)
    html, result = report(env, capsys, HOUR, 2_000)
    with pytest.raises(AssertionError):
        check_report(page, html, result)
