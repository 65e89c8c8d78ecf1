"""The experiment page's results section: the live result drawn by
core.render, served alone at /x/<key>/results.html for the page's script to
refresh."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import Admin
from tests.service.dashboard.markup import parse
from tests.service.dashboard.pages import Browser, traffic


def section_of(page_html: str) -> str:
    """The inside of the page's ``<section id="results">``."""
    found = re.search(
        r'<section id="results"[^>]*>\n(.*?)\n</section>', page_html, re.S
    )
    assert found, page_html[:500]
    return found.group(1)


def test_the_fragment_is_the_pages_results_section(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    traffic(client, "exp", {"control": (20, 2), "treatment": (20, 5)})
    for _ in range(3):  # both within one second: the live point is stamped "now"
        page = dash.client.get("/x/exp").get_data(as_text=True)
        fragment = dash.client.get("/x/exp/results.html")
        if fragment.get_data(as_text=True) == section_of(page):
            break
    assert fragment.status_code == 200 and fragment.mimetype == "text/html"
    assert fragment.headers["Cache-Control"] == "no-store"
    assert fragment.get_data(as_text=True) == section_of(page)
    tree = parse(page)
    assert tree.get(id="results").attrs["data-url"] == "/x/exp/results.html"
    assert "<html" not in fragment.get_data(as_text=True)
    assert "Live from the counters" in fragment.get_data(as_text=True)


def test_the_section_has_tables_and_charts(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    traffic(client, "exp", {"control": (20, 2), "treatment": (20, 5)})
    section = dash.page("/x/exp").get(id="results")
    assert section.get("table", class_="metric").attrs["data-event"] == "purchase"
    for chart in ("participants", "lift", "rates-0"):
        svg = section.get("svg", id=chart)
        assert svg.attrs["role"] == "img" and svg.attrs["aria-label"]


def test_the_phase_selector_and_a_phase_nobody_is_in_yet(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    traffic(client, "exp", {"control": (20, 2), "treatment": (20, 5)})
    admin.post("/experiments/exp/phases", json={"weights": [0.2, 0.8]})
    latest = dash.page("/x/exp")
    nav = latest.get("nav", class_="phases")
    links = {a.text: a.attrs for a in nav.find_all("a")}
    assert links["phase 1"]["href"] == "/x/exp?phase=0"
    assert links["phase 2 (current)"]["href"] == "/x/exp"
    assert "aria-current" in links["phase 2 (current)"]
    assert latest.get(id="decision").attrs["class"] == "decision none"
    assert "Nobody is enrolled in phase 2 yet" in latest.get(id="results").text
    assert latest.find("table", class_="metric") is None

    first = dash.page("/x/exp?phase=0")
    assert first.get(id="results").attrs["data-url"] == "/x/exp/results.html?phase=0"
    assert first.get("table", class_="metric") is not None
    second = parse(
        dash.client.get("/x/exp/results.html?phase=1").get_data(as_text=True)
    )
    assert "Nobody is enrolled in phase 2 yet" in second.text


def test_a_metric_that_cannot_be_live_says_so(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    capped = {"event": "spend", "type": "value", "cap_percentile": 0.99}
    admin.experiment("exp", metrics=["purchase", capped])
    traffic(client, "exp", {"control": (20, 2), "treatment": (20, 5)})
    section = dash.page("/x/exp").get(id="results")
    note = section.get("section", data_event="spend").get(class_="note").text
    assert note.startswith("A percentile cap needs every user's total")
    assert "the analysis job has not computed it yet" in note


def test_a_bad_phase_is_refused(dash: Browser, admin: Admin) -> None:
    admin.experiment("exp")
    for bad in ("x", "-1", "1.5", "3"):
        answer = dash.client.get(f"/x/exp/results.html?phase={bad}")
        assert answer.status_code == 400, bad
    assert dash.client.get("/x/nope/results.html").status_code == 404


def test_the_results_css_is_served_without_login(app: Flask) -> None:
    anonymous = app.test_client()
    answer = anonymous.get("/assets/results.css")
    assert answer.status_code == 200 and answer.mimetype == "text/css"
    assert "table.results" in answer.get_data(as_text=True)
    again = anonymous.get(
        "/assets/results.css", headers={"If-None-Match": answer.headers["ETag"]}
    )
    assert again.status_code == 304
    assert anonymous.get("/x/exp/results.html").status_code in (302, 303, 401)


def test_one_live_count_per_variation(dash: Browser, admin: Admin) -> None:
    admin.experiment("exp")
    page = dash.page("/x/exp")
    cells = page.find_all(class_="live-participants")
    assert sorted(c.attrs["data-variation"] for c in cells) == ["control", "treatment"]
    assert len(page.find_all(**{"data_variation": "control"})) == 1
