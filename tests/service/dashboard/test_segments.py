"""Segments on the dashboard, and targeting in the experiment form: the
admin API's rules, through the same code path."""

from __future__ import annotations

import redis as redis_py

from tests.helpers import Admin, snapshot
from tests.service.dashboard.pages import Browser, cells


def segment_rows(dash: Browser) -> dict[str, list[str]]:
    table = dash.page("/").get("table", id="segment-list")
    rows = table.get("tbody").find_all("tr")
    return {r.attrs["data-key"]: cells(r) for r in rows}


def test_create_list_and_condition_segments(dash: Browser, admin: Admin) -> None:
    assert "No segments yet." in dash.page("/").get(id="segment-list").text
    answer = dash.post(
        "/s/new", key="beta", description="Beta testers", values="u-1\nu-2, u-3\n\n"
    )
    assert (answer.status_code, answer.headers["Location"]) == (303, "/#segments")
    assert admin.get("/segments/beta").json["values"] == ["u-1", "u-2", "u-3"]
    answer = dash.post(
        "/s/new",
        key="eu",
        kind="condition",
        condition='{"country": {"$in": ["DE", "FR"]}}',
    )
    assert answer.status_code == 303
    admin.experiment("exp", segments=["eu"])

    rows = segment_rows(dash)
    assert rows["beta"] == ["beta", "Beta testers", "3 listed users", "—"]
    assert rows["eu"][2] == '{"country": {"$in": ["DE", "FR"]}}'
    assert rows["eu"][3] == "experiments: exp"


def test_edit_keeps_the_kind_and_delete_needs_the_key(
    dash: Browser, admin: Admin
) -> None:
    admin.post("/segments", json={"key": "beta", "values": ["u-1"]})
    form = dash.page("/s/beta/edit").get("form", class_="experiment-form")
    assert form.get("textarea", id="f-values").text == "u-1"
    assert form.find(id="f-condition") is None
    answer = dash.post("/s/beta/edit", description="Beta", values="u-1, u-9")
    assert answer.status_code == 303
    stored = admin.get("/segments/beta").json
    assert (stored["description"], stored["values"]) == ("Beta", ["u-1", "u-9"])

    refused = dash.submit("/s/beta/delete", confirm="bet")
    assert "type the segment's key (beta)" in refused.text
    assert admin.get("/segments/beta").status_code == 200
    assert dash.post("/s/beta/delete", confirm="beta").status_code == 303
    assert admin.get("/segments/beta").status_code == 404


def test_a_segment_in_use_cannot_be_deleted(dash: Browser, admin: Admin) -> None:
    admin.post("/segments", json={"key": "eu", "condition": {"country": "DE"}})
    admin.experiment("exp", segments=["eu"])
    page = dash.submit("/s/eu/delete", status=409, confirm="eu")
    assert "used by experiments 'exp'" in page.get(class_="error").text
    assert admin.get("/segments/eu").status_code == 200


def test_a_bad_condition_is_shown_next_to_it_and_writes_nothing(
    dash: Browser, redis: redis_py.Redis
) -> None:
    before = snapshot(redis)
    for condition, words in [
        ("{country", "is not valid JSON"),
        ('{"ua": {"$regex": "(a+)+$"}}', "may backtrack catastrophically"),
        ('{"a": {"$bogus": 1}}', "condition.a.$bogus"),
        ("", "condition: is required"),
    ]:
        page = dash.submit("/s/new", key="bad", kind="condition", condition=condition)
        error = page.get("p", class_="error")
        assert error.attrs["data-field"] == "condition", error.text
        assert words in error.text
        assert page.get("textarea", id="f-condition").text == condition
    assert snapshot(redis) == before


def test_a_viewer_sees_segments_but_cannot_change_them(
    viewer: Browser, admin: Admin
) -> None:
    admin.post("/segments", json={"key": "beta", "values": ["u-1"]})
    page = viewer.page("/")
    assert page.find(id="new-segment") is None
    assert page.get("table", id="segment-list").find("a") is None
    assert viewer.post("/s/new", key="x", values="u-1").status_code == 403
    assert viewer.post("/s/beta/delete", confirm="beta").status_code == 403


def test_an_experiment_targets_from_the_form(dash: Browser, admin: Admin) -> None:
    admin.post("/segments", json={"key": "eu", "condition": {"country": "DE"}})
    answer = dash.post(
        "/x/new",
        key="exp",
        variations="control, green",
        condition='{"plan": "pro"}',
        segments="eu",
    )
    assert answer.status_code == 303
    stored = admin.get("/experiments/exp").json
    assert (stored["condition"], stored["segments"]) == ({"plan": "pro"}, ["eu"])
    targeting = dash.page("/x/exp").get(id="targeting").text
    assert targeting.startswith("Only users who match segment eu and")
    assert '{"plan": "pro"}' in targeting

    edit = dash.page("/x/exp/edit")
    assert edit.get("textarea", id="f-condition").text.strip().startswith("{")
    page = dash.submit("/x/exp/edit", condition='{"plan": {"$in": "pro"}}')
    assert page.get("p", class_="error").attrs["data-field"] == "condition"
    page = dash.submit("/x/exp/edit", segments="nope")
    assert page.get("p", class_="error").attrs["data-field"] == "segments"
    assert dash.post("/x/exp/edit", condition="", segments="").status_code == 303
    cleared = admin.get("/experiments/exp").json
    assert cleared.get("condition") is None and not cleared.get("segments")
