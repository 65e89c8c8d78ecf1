"""The list and the experiment page: live counts, the last run's numbers, in words."""

from __future__ import annotations

import re
import time

from flask.testing import FlaskClient

from tests.helpers import Admin
from tests.service.dashboard.pages import Browser, cells, store_results


def enrol(client: FlaskClient, key: str, users: int) -> dict[str, int]:
    """Send ``users`` users through /process_user; their variations' counts."""
    counts: dict[str, int] = {}
    for i in range(users):
        answer = client.get(f"/process_user?user_id=u{i}&experiment={key}")
        variation = answer.json["variation"]
        counts[variation] = counts.get(variation, 0) + 1
    return counts


def test_the_list_shows_experiments_and_flags(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp", name="Checkout button")
    admin.experiment("draft", start=False)
    admin.post("/flags", json={"key": "nav", "enabled": True, "rollout": 0.25})
    admin.post("/flags", json={"key": "old", "description": "Legacy menu"})
    counts = enrol(client, "exp", 40)
    store_results(client, "exp", srm_warning=True)

    page = dash.page("/")
    rows = {
        r.attrs["data-key"]: r for r in page.get(id="experiments").find_all("tr")[1:]
    }
    assert sorted(rows) == ["draft", "exp"]
    exp = rows["exp"]
    assert exp.get("a").text == "Checkout button"
    assert exp.get(class_="status").text == "Running"
    assert "Phase 1" in cells(exp)[2]
    shown = {
        li.get(class_="variation").text: li.get(class_="num").text
        for li in exp.find_all("li")
    }
    assert shown == {name: str(n) for name, n in counts.items()}
    assert exp.get("span", class_="badge").attrs["class"] == "badge keep_running"
    assert exp.get("span", class_="badge").text == "Keep running"
    assert exp.get(class_="srm").text == "Sample ratio mismatch"

    draft = rows["draft"]
    assert draft.get(class_="status").text == "Draft"
    assert draft.get("span", class_="badge").text == "no results yet"
    assert draft.find(class_="srm") is None
    assert cells(draft)[2] == "—"

    flags = {
        r.attrs["data-key"]: cells(r) for r in page.get(id="flags").find_all("tr")[1:]
    }
    assert flags["nav"][1:4] == ["—", "On", "25.0%"]
    assert flags["old"][1:4] == ["Legacy menu", "Off", "100.0%"]
    assert page.get("a", id="new-experiment").attrs["href"] == "/x/new"


def test_large_counts_get_thousands_separators(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    store_results(client, "exp")
    page = dash.page("/x/exp")
    table = page.get("table", class_="metric", **{"data_event": "purchase"})
    rows = [cells(r) for r in table.find_all("tr")[1:]]
    assert rows[0][:3] == ["control (control)", "450", "11.8%"]
    # the sample: green converts 64/450 = 14.2%, +20.8% on control (always-valid CI)
    assert rows[1] == [
        "green",
        "450",
        "14.2%",
        "+20.8%",
        "[−42.0%, +168.8%]",
        "1.000",
        "Inconclusive",
    ]
    assert rows[0][3:] == ["—", "—", "—", "—"]
    store_results(client, "exp", records_analysed=1234567)
    assert (
        "1,234,567 logged records" in dash.page("/x/exp").get(class_="generated").text
    )


def test_the_experiment_page_shows_the_stored_results(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp", name="Checkout button", metrics=["purchase", "view"])
    results = store_results(client, "exp", generated_at=time.time() - 3 * 3600 - 60)
    page = dash.page("/x/exp")
    assert page.get("h1").text == "Checkout button"
    assert page.get(id="phase").text.startswith("Phase 1 of 1, since ")
    assert "split 50% / 50% (control / treatment)" in page.get(id="phase").text
    decision = page.get(id="decision")
    assert decision.attrs["class"] == "decision keep_running"
    assert results["decision"]["summary"] in decision.text
    generated = page.get(id="generated").text
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(3 hours ago\)", generated)
    assert page.find(id="srm") is None
    tables = page.find_all("table", class_="metric")
    assert [t.attrs["data-event"] for t in tables] == ["purchase", "view"]
    headings = [th.text for th in tables[0].get("thead").find_all("th")]
    assert headings == [
        "Variation",
        "Participants",
        "Conversion rate",
        "Lift",
        "95% interval of the lift",
        "p-value",
        "Outcome",
    ]
    text = page.text
    for raw in ("keep_running", "p_value", "rel_lift", "conversion_rate", "None"):
        assert raw not in text
    assert "Primary metric" in page.get("h2").text


def test_a_value_metric_shows_means_and_fixed_mode_numbers(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    sample = store_results(client, "exp")
    metric = {**sample["metrics"][0], "type": "value"}
    settings = {**sample["settings"], "mode": "fixed"}
    store_results(client, "exp", metrics=[metric], settings=settings)
    table = dash.page("/x/exp").get("table", class_="metric")
    assert "Mean per participant" in table.get("thead").text
    green = cells(table.find_all("tr")[2])
    # the value test: mean 4.15 vs 2.85, +45.3%, fixed-horizon CI, p 0.061 unadjusted
    assert green[2:6] == ["4.15", "+45.3%", "[−1.8%, +121.6%]", "0.061"]


def test_srm_and_unreliable_are_shown(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    decision = {
        "state": "unreliable",
        "variation": None,
        "summary": "Results unreliable.",
    }
    store_results(
        client, "exp", srm_warning=True, srm_p_value=0.0000123, decision=decision
    )
    page = dash.page("/x/exp")
    assert page.get(id="decision").attrs["class"] == "decision unreliable"
    assert page.get(id="decision").text == "Results unreliable."
    srm = page.get("div", id="srm")
    assert srm.attrs["class"] == "warn srm"
    assert srm.text.startswith("Sample ratio mismatch.")
    assert "(always-valid p < 0.001)" in srm.text


def test_without_results_the_page_says_so(dash: Browser, admin: Admin) -> None:
    admin.experiment("exp", start=False)
    page = dash.page("/x/exp")
    assert page.get(id="decision").attrs["class"] == "decision none"
    assert "has not analysed this experiment yet" in page.get(id="decision").text
    assert page.find(id="generated") is None
    assert page.get(id="phase").text == "Not started yet: a draft enrols nobody."


def test_live_participants_on_the_page_and_as_json(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    counts = enrol(client, "exp", 30)
    page = dash.page("/x/exp")
    shown = {
        cell.attrs["data-variation"]: cell.text
        for cell in page.find_all(class_="live-participants")
    }
    assert shown == {
        name: str(counts.get(name, 0)) for name in ("control", "treatment")
    }
    live = dash.client.get("/x/exp/live.json")
    assert live.mimetype == "application/json"
    assert live.json == {"key": "exp", "participants": counts, "total": 30}
    assert page.get(id="live").attrs["data-url"] == "/x/exp/live.json"


def test_an_older_phases_results_say_so(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    store_results(client, "exp")
    admin.post("/experiments/exp/phases", json={"weights": [0.2, 0.8]})
    page = dash.page("/x/exp")
    assert (
        "These numbers are for phase 1; phase 2 began since."
        in page.get(class_="note").text
    )
    assert "Phase 2 of 2" in page.get(id="phase").text
    assert "20% / 80%" in page.get(id="phase").text


def test_a_missing_experiment_is_a_404_page(dash: Browser) -> None:
    page = dash.page("/x/nope", status=404)
    assert page.get("h1").text == "Not found"
    assert "'nope' does not exist" in page.get(class_="error").text
    missing = dash.client.get("/x/nope/live.json")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")
