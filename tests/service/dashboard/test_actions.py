"""Dashboard actions do what the admin API does, through the same code path."""

from __future__ import annotations

import json

import pytest
import redis as redis_py

from tests.helpers import Admin, snapshot
from tests.service.dashboard.pages import Browser

FIELDS = [
    "key",
    "name",
    "variations",
    "weights",
    "coverage",
    "metrics",
    "analysis",
    "condition",
    "segments",
]


def test_the_create_form_has_every_field(dash: Browser) -> None:
    page = dash.page("/x/new").get("form", class_="experiment-form")
    names = [e.attrs["name"] for e in page.find_all() if e.tag in ("input", "textarea")]
    assert names == ["csrf", *FIELDS]
    assert page.get("button", id="save").text == "Create draft"


def test_create_makes_a_draft_like_the_api(dash: Browser, admin: Admin) -> None:
    answer = dash.post(
        "/x/new",
        key="checkout",
        name="Checkout button",
        variations="control, green",
        weights="0.4, 0.6",
        coverage="0.5",
        metrics="purchase, view",
        analysis='{"mde": 0.1}',
    )
    assert (answer.status_code, answer.headers["Location"]) == (303, "/x/checkout")
    exp = admin.get("/experiments/checkout").json
    assert (exp["status"], exp["name"], exp["variations"]) == (
        "draft",
        "Checkout button",
        ["control", "green"],
    )
    assert (exp["weights"], exp["coverage"]) == ([0.4, 0.6], 0.5)
    assert [(m["event"], m["role"]) for m in exp["metrics"]] == [
        ("purchase", "primary"),
        ("view", "secondary"),
    ]
    assert exp["analysis"]["mde"] == 0.1


def test_metrics_may_be_json(dash: Browser, admin: Admin) -> None:
    metrics = [{"event": "refund", "role": "guardrail", "direction": "lower"}]
    answer = dash.post(
        "/x/new", key="exp", variations="a, b", metrics=json.dumps(metrics)
    )
    assert answer.status_code == 303
    stored = admin.get("/experiments/exp").json["metrics"][0]
    assert (stored["role"], stored["direction"]) == ("guardrail", "lower")


BAD_FIELDS = {
    "key": ({"key": "a b"}, "key", "key: must be 1-64"),
    "one-variation": ({"variations": "a"}, "variations", "variations: must be"),
    "weights-sum": ({"weights": "0.9, 0.9"}, "weights", "weights"),
    "weights-word": ({"weights": "half"}, "weights", "numbers"),
    "coverage": ({"coverage": "2"}, "coverage", "coverage"),
    "metric-type": (
        {"metrics": '[{"event": "x", "type": "?"}]'},
        "metrics",
        "metrics[0].type",
    ),
    "analysis-json": ({"analysis": "{mde"}, "analysis", "JSON"),
    "analysis-field": ({"analysis": '{"nope": 1}'}, "analysis", "analysis.nope"),
}


@pytest.mark.parametrize(
    ("form", "field", "words"), list(BAD_FIELDS.values()), ids=list(BAD_FIELDS)
)
def test_a_bad_field_is_shown_next_to_it_and_writes_nothing(
    dash: Browser,
    redis: redis_py.Redis,
    form: dict[str, str],
    field: str,
    words: str,
) -> None:
    before = snapshot(redis)
    form = {"key": "k", "variations": "a, b", **form}
    page = dash.submit("/x/new", 400, **form)
    error = page.get("p", class_="error")
    assert error.attrs["data-field"] == field
    assert words in error.text
    assert error in page.get(class_="has-error").children  # next to its field
    assert page.get("input", id="f-key").attrs["value"] == form["key"]  # kept
    assert snapshot(redis) == before


def test_a_duplicate_key_is_a_409_on_the_form(dash: Browser, admin: Admin) -> None:
    admin.experiment("exp", start=False)
    page = dash.submit("/x/new", 409, key="exp", variations="x, y")
    assert "exists" in page.get("p", class_="error").text
    assert admin.get("/experiments/exp").json["variations"] == ["control", "treatment"]


def test_edit_changes_only_what_changed(dash: Browser, admin: Admin) -> None:
    admin.experiment("exp", metrics=["buy"])
    form = dash.page("/x/exp/edit").get("form", class_="experiment-form")
    assert form.get("input", id="f-key").attrs.get("disabled") is not None
    assert form.get("input", id="f-variations").attrs.get("disabled") is not None
    values = {
        e.attrs["name"]: e.attrs.get("value", e.text)
        for e in form.find_all()
        if e.tag in ("input", "textarea") and "disabled" not in e.attrs
    }
    values.pop("csrf")
    answer = dash.post(
        "/x/exp/edit", **{**values, "name": "Renamed", "weights": "0.3, 0.7"}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    exp = admin.get("/experiments/exp").json
    assert (exp["name"], exp["weights"], len(exp["phases"])) == (
        "Renamed",
        [0.3, 0.7],
        2,
    )
    assert [m["event"] for m in exp["metrics"]] == ["buy"]


def test_edit_shows_the_apis_error_inline(
    dash: Browser, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    before = snapshot(redis)
    page = dash.submit("/x/exp/edit", 400, coverage="7")
    assert page.get("p", class_="error").attrs["data-field"] == "coverage"
    assert page.get("input", id="f-coverage").attrs["value"] == "7"
    assert snapshot(redis) == before


def test_the_lifecycle_from_the_experiment_page(dash: Browser, admin: Admin) -> None:
    admin.experiment("exp", start=False)
    status = lambda: admin.get("/experiments/exp").json  # noqa: E731
    assert dash.page("/x/exp").find("button", id="stop") is None
    assert dash.post("/x/exp/start").status_code == 303
    assert status()["status"] == "running"
    assert dash.page("/x/exp").find("button", id="start") is None
    assert dash.post("/x/exp/phase", weights="0.25, 0.75").status_code == 303
    assert status()["phases"][-1]["weights"] == [0.25, 0.75]
    assert dash.post("/x/exp/phase").status_code == 303  # the same split again
    assert len(status()["phases"]) == 3
    assert dash.post("/x/exp/stop").status_code == 303
    assert status()["status"] == "stopped"
    winner = dash.page("/x/exp").get("select", name="winner")
    assert [o.text for o in winner.find_all("option")] == ["control", "treatment"]
    answer = dash.post("/x/exp/complete", winner="treatment")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/x/exp")
    assert (status()["status"], status()["winner"]) == ("completed", "treatment")


@pytest.mark.parametrize(
    ("path", "form", "code", "words"),
    [
        ("/x/exp/start", {}, 409, "cannot start an experiment that is running"),
        ("/x/exp/complete", {"winner": "nobody"}, 400, "winner: must be one of"),
        ("/x/exp/phase", {"weights": "1, 2, 3"}, 400, "weights"),
        ("/x/exp/delete", {"confirm": "ex"}, 400, "type the experiment's key (exp)"),
        ("/x/nope/stop", {}, 404, "'nope' does not exist"),
    ],
)
def test_a_refused_action_is_a_page_saying_why(
    dash: Browser,
    admin: Admin,
    redis: redis_py.Redis,
    path: str,
    form: dict[str, str],
    code: int,
    words: str,
) -> None:
    admin.experiment("exp")
    before = snapshot(redis)
    page = dash.submit(path, code, **form)
    assert words in page.get("p", class_="error").text
    assert snapshot(redis) == before


def test_delete_needs_the_key_typed_and_removes_everything(
    dash: Browser, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    page = dash.page("/x/exp")
    assert page.get("input", name="confirm").attrs.get("required") is not None
    assert page.get("button", id="delete").text == "Delete"
    answer = dash.post("/x/exp/delete", confirm="exp")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/")
    assert admin.get("/experiments/exp").status_code == 404
    assert redis.keys("t:x:*") == []


def test_flags_toggle_and_roll_out(dash: Browser, admin: Admin) -> None:
    admin.post("/flags", json={"key": "nav", "enabled": False, "rollout": 1})
    row = dash.page("/").get("tr", data_key="nav")
    toggle = row.get("button", class_="toggle")
    assert (toggle.text, toggle.attrs["value"]) == ("Turn on", "true")
    answer = dash.post("/f/nav", enabled="true")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/#flag-nav")
    assert admin.get("/flags/nav/definition").json["enabled"] is True
    assert dash.page("/").get("tr", data_key="nav").get(class_="state").text == "On"
    assert dash.post("/f/nav", rollout="12.5").status_code == 303
    assert admin.get("/flags/nav/definition").json["rollout"] == 0.125
    assert "12.5%" in dash.page("/").get("tr", data_key="nav").text
    assert dash.post("/f/nav", enabled="false").status_code == 303
    assert admin.get("/flags/nav/definition").json["enabled"] is False


@pytest.mark.parametrize("rollout", ["150", "-1", "lots", "nan"])
def test_a_bad_rollout_is_refused(
    dash: Browser, admin: Admin, redis: redis_py.Redis, rollout: str
) -> None:
    admin.post("/flags", json={"key": "nav"})
    before = snapshot(redis)
    page = dash.submit("/f/nav", 400, rollout=rollout)
    assert "rollout" in page.get("p", class_="error").text
    assert snapshot(redis) == before
