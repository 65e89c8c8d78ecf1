"""The list and the experiment page: live counts and live results, in words.

The numbers come from traffic each test sends through the API (``traffic``),
never from a stored result."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from scipy import stats

from tests.helpers import Admin, until_phase_begins
from tests.service.dashboard.pages import Browser, cells, traffic


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
    picked = traffic(
        client, "exp", {"control": (800, 0), "treatment": (300, 0)}, prefix="l"
    )
    counts = {v: len(users) for v, users in picked.items()}

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
    # 800 against 300 at 50/50: a sample ratio mismatch, so no verdict holds
    assert exp.get("span", class_="badge").attrs["class"] == "badge unreliable"
    assert exp.get(class_="srm").text == "Sample ratio mismatch"

    draft = rows["draft"]
    assert draft.get(class_="status").text == "Draft"
    assert draft.get("span", class_="badge").text == "no participants yet"
    assert draft.find(class_="srm") is None
    assert cells(draft)[2] == "—"

    flags = {
        r.attrs["data-key"]: cells(r) for r in page.get(id="flags").find_all("tr")[1:]
    }
    assert flags["nav"][1:4] == ["—", "On", "25.0%"]
    assert flags["old"][1:4] == ["Legacy menu", "Off", "100.0%"]
    assert page.get("a", id="new-experiment").attrs["href"] == "/x/new"


def test_the_experiment_page_shows_live_results(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment(
        "exp",
        name="Checkout button",
        variations=["control", "green"],
        metrics=["purchase", "view"],
        analysis={"planned_users": 10000, "mde": 0.05},
    )
    page = dash.page("/x/exp")
    assert page.get(id="decision").attrs["class"] == "decision none"
    assert "Nobody is enrolled in phase 1 yet" in page.get(id="decision").text

    picked = traffic(client, "exp", {"control": (450, 53), "green": (450, 64)})
    page = dash.page("/x/exp")
    assert page.get("h1").text == "Checkout button"
    assert page.get(id="phase").text.startswith("Phase 1 of 1, since ")
    assert "split 50% / 50% (control / green)" in page.get(id="phase").text
    decision = page.get(id="decision")
    assert decision.attrs["class"] == "decision keep_running"
    assert decision.text.startswith("Keep running: no detectable difference yet")
    assert re.fullmatch(
        r"Live from the counters, \d{4}-\d\d-\d\d \d\d:\d\d UTC \(just now\) ?\. "
        r"Intervals and p-values are always-valid.*",
        page.get(class_="generated").text,
    )
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
    rows = [cells(r) for r in tables[0].find_all("tr")[1:]]
    assert rows[0] == ["control (control)", "450", "11.8%", "—", "—", "—", "—"]
    # green converts 64/450 = 14.2%, +20.8% on control; always-valid
    # interval and p-value (Holm-adjusted across the two metrics)
    assert rows[1] == [
        "green",
        "450",
        "14.2%",
        "+20.8%",
        "[−42.0%, +168.8%]",
        "1.000",
        "Inconclusive",
    ]
    text = page.text
    for raw in ("keep_running", "p_value", "rel_lift", "conversion_rate", "None"):
        assert raw not in text
    assert "Primary metric" in page.get("h2").text

    more = traffic(client, "exp", {"control": (1000, 0)}, prefix="m")
    assert len(more["control"]) == 1000
    table = dash.page("/x/exp").get("table", class_="metric", data_event="purchase")
    assert cells(table.find_all("tr")[1])[:3] == ["control (control)", "1,450", "3.7%"]
    assert picked["control"][0] not in more["control"]


def test_a_value_metric_shows_means_and_fixed_mode_numbers(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment(
        "exp",
        metrics=[{"event": "revenue", "type": "value"}],
        analysis={"mode": "fixed"},
    )
    traffic(client, "exp", {"control": (40, 10), "treatment": (40, 16)}, "revenue", 10)
    table = dash.page("/x/exp").get("table", class_="metric")
    assert "Mean per participant" in table.get("thead").text
    rows = [cells(r) for r in table.find_all("tr")[1:]]
    assert rows[0][2] == "2.50"
    # means 4.00 against 2.50, +60%; the p-value is Welch's t-test's (scipy)
    control = [10.0] * 10 + [0.0] * 30
    treatment = [10.0] * 16 + [0.0] * 24
    p = stats.ttest_ind(treatment, control, equal_var=False).pvalue
    assert rows[1][2:4] == ["4.00", "+60.0%"]
    assert rows[1][5] == f"{p:.3f}"
    low, high = (float(x.strip("%+−")) for x in rows[1][4].strip("[]").split(", "))
    assert rows[1][4].startswith("[−") and low > 0 and high > 60


def test_srm_and_unreliable_are_shown(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    traffic(client, "exp", {"control": (800, 80), "treatment": (300, 30)})
    page = dash.page("/x/exp")
    assert page.get(id="decision").attrs["class"] == "decision unreliable"
    srm = page.get("div", id="srm")
    assert srm.attrs["class"] == "warn srm"
    assert srm.text.startswith("Sample ratio mismatch.")
    assert "(always-valid p < 0.001)" in srm.text


def test_a_draft_says_it_has_no_numbers(dash: Browser, admin: Admin) -> None:
    admin.experiment("exp", start=False)
    page = dash.page("/x/exp")
    assert page.get(id="decision").attrs["class"] == "decision none"
    assert "Start the experiment" in page.get(id="decision").text
    assert page.find(class_="generated") is None
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


def test_each_phase_has_its_own_live_numbers(
    dash: Browser, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    traffic(client, "exp", {"control": (30, 3), "treatment": (20, 2)})
    changed = admin.post("/experiments/exp/phases", json={"weights": [0.2, 0.8]})
    until_phase_begins(changed.json)
    traffic(client, "exp", {"control": (5, 1), "treatment": (12, 2)}, prefix="p")
    page = dash.page("/x/exp")
    assert "Phase 2 of 2" in page.get(id="phase").text
    assert "20% / 80%" in page.get(id="phase").text
    assert page.find(class_="note") is None

    def participants(path: str) -> list[str]:
        table = dash.page(path).get("table", class_="metric")
        return [cells(r)[1] for r in table.find_all("tr")[1:]]

    assert participants("/x/exp") == ["5", "12"]
    assert participants("/x/exp?phase=1") == ["5", "12"]
    assert participants("/x/exp?phase=0") == ["30", "20"]


def test_a_missing_experiment_is_a_404_page(dash: Browser) -> None:
    page = dash.page("/x/nope", status=404)
    assert page.get("h1").text == "Not found"
    assert "'nope' does not exist" in page.get(class_="error").text
    missing = dash.client.get("/x/nope/live.json")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")
