"""The job's HTML report: one self-contained page, drawn by core.render like
the dashboard's experiment page. The plots' axis rules are tested in
tests/core/render/test_axes.py, the page in Chromium in
tests/browser/test_report.py."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from abflask.analysis import report_html
from abflask.core.render import style, tables
from tests.core.render.sample import HOUR, T0, result
from tests.helpers import ROOT

NOW = datetime.fromtimestamp(T0 + 3 * HOUR, UTC)


def test_the_page_needs_nothing_from_elsewhere() -> None:
    page = report_html.page([result()], NOW)
    assert page.startswith("<!doctype html>")
    assert style.CSS in page  # inline
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert '<meta name="viewport" content="width=device-width' in page
    assert "Generated 2026-11-18 14:06 UTC." in page


def test_a_section_is_the_dashboards_results_section() -> None:
    data = result()
    section = report_html.section(data)
    shared = tables.results_section(data, now=None, id_prefix="exp-", heading=3)
    assert shared in section
    assert section.startswith('<section class="experiment" id="exp">')
    assert "<h2>Checkout button <small>exp · Running</small></h2>" in section
    assert "Computed by the analysis job from 31,877 logged records." in section


def test_ids_are_unique_across_experiments() -> None:
    page = report_html.page([result(), result(key="other")], NOW)
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert {"exp-decision", "other-decision", "exp-lift", "other-lift"} <= set(ids)


def test_names_are_escaped() -> None:
    page = report_html.page([result(name="<b>Bold</b>", key="k")], NOW)
    assert "<b>Bold" not in page and "&lt;b&gt;Bold&lt;/b&gt;" in page


def test_no_experiments() -> None:
    assert "<p>No experiments.</p>" in report_html.page([], NOW)


def test_write_makes_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "report.html"
    report_html.write([result()], path)
    assert path.read_text(encoding="utf-8").endswith("</html>\n")


def test_the_report_loads_no_plotting_library() -> None:
    code = (
        "import sys, abflask.analysis.report_html; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert found.stdout.strip() == "[]"
