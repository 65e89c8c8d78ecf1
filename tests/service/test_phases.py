"""Phases through the admin API and the CLI: what starts one, what does not.

A phase is a stretch of an experiment with one split; the analysis reads each
phase on its own. Users keep their variation across phases.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis as redis_py
from flask.testing import FlaskClient, FlaskCliRunner

from tests.helpers import Admin, snapshot, until_phase_begins


def phases(admin: Admin, key: str = "exp") -> list[dict[str, Any]]:
    """The experiment's phases as GET /experiments/<key> shows them."""
    return admin.get(f"/experiments/{key}").json["phases"]


def assign(client: FlaskClient, user: str) -> str:
    answer = client.get(f"/process_user?user_id={user}&experiment=exp").json
    return answer["variation"]


# -- what starts a phase ------------------------------------------------------


def test_start_begins_phase_zero(admin: Admin) -> None:
    admin.experiment("exp", start=False, weights=[0.3, 0.7])
    assert phases(admin) == []
    started = admin.post("/experiments/exp/start").json
    assert started["phases"] == [
        {"index": 0, "started_at": started["started_at"], "weights": [0.3, 0.7]}
    ]
    assert phases(admin) == started["phases"]


def test_start_of_an_equal_split_records_the_effective_weights(admin: Admin) -> None:
    started = admin.experiment("exp", variations=["a", "b", "c", "d"])
    assert started["weights"] is None
    assert started["phases"][0]["weights"] == [0.25, 0.25, 0.25, 0.25]


def test_weights_change_of_a_running_experiment_begins_a_phase(admin: Admin) -> None:
    first = admin.experiment("exp")["phases"]
    before = time.time()
    changed = admin.patch("/experiments/exp", json={"weights": [0.2, 0.8]})
    after = time.time()
    assert changed.status_code == 200
    assert changed.json["phases"][:1] == first
    new = changed.json["phases"][1]
    assert (new["index"], new["weights"]) == (1, [0.2, 0.8])
    # The next whole second: nobody is split both ways within one second.
    assert new["started_at"] == int(new["started_at"])
    assert before < new["started_at"] <= after + 1
    assert phases(admin) == changed.json["phases"]


def test_weights_change_of_a_stopped_experiment_begins_a_phase(admin: Admin) -> None:
    admin.experiment("exp")
    admin.post("/experiments/exp/stop")
    changed = admin.patch("/experiments/exp", json={"weights": [0.2, 0.8]}).json
    assert [p["weights"] for p in changed["phases"]] == [[0.5, 0.5], [0.2, 0.8]]
    restarted = admin.post("/experiments/exp/start").json
    assert restarted["phases"] == changed["phases"]


@pytest.mark.parametrize(
    "patch",
    [
        {"weights": [0.5, 0.5]},
        {"weights": None},
        {"coverage": 0.5},
        {"max_participants": 10},
        {"metrics": ["buy", {"event": "revenue", "type": "value"}]},
        {"analysis": {"alpha": 0.01}},
        {"name": "Renamed"},
    ],
    ids=[
        "same-weights",
        "equal-split",
        "coverage",
        "cap",
        "metrics",
        "analysis",
        "name",
    ],
)
def test_other_changes_begin_no_phase(admin: Admin, patch: dict[str, Any]) -> None:
    first = admin.experiment("exp", weights=[0.5, 0.5])["phases"]
    changed = admin.patch("/experiments/exp", json=patch)
    assert changed.status_code == 200, changed.json
    assert changed.json["phases"] == phases(admin) == first


def test_draft_weights_changes_begin_no_phase(admin: Admin) -> None:
    admin.experiment("exp", start=False)
    admin.patch("/experiments/exp", json={"weights": [0.1, 0.9]})
    admin.patch("/experiments/exp", json={"weights": [0.4, 0.6]})
    assert phases(admin) == []
    started = admin.post("/experiments/exp/start").json
    assert [p["weights"] for p in started["phases"]] == [[0.4, 0.6]]


def test_stop_and_start_begin_no_phase(admin: Admin) -> None:
    first = admin.experiment("exp")["phases"]
    assert admin.post("/experiments/exp/stop").json["phases"] == first
    assert admin.post("/experiments/exp/start").json["phases"] == first


def test_users_keep_their_variation_across_phases(
    admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp", weights=[1.0, 0.0])
    users = [f"user-{i}" for i in range(50)]
    assert {assign(client, u) for u in users} == {"control"}
    response = admin.post("/experiments/exp/phases", json={"weights": [0.0, 1.0]})
    assert len(response.json["phases"]) == 2
    until_phase_begins(response.json)
    assert {assign(client, u) for u in users} == {"control"}
    assert assign(client, "newcomer") == "treatment"


# -- POST /experiments/<key>/phases -------------------------------------------


@pytest.mark.parametrize(
    "send",
    [{"json": {}}, {}, {"data": "  "}],
    ids=["empty-object", "no-body", "blank-body"],
)
def test_new_phase_keeps_the_weights(admin: Admin, send: dict[str, Any]) -> None:
    created = admin.experiment("exp", weights=[0.3, 0.7])
    before = time.time()
    response = admin.post("/experiments/exp/phases", **send)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["weights"] == [0.3, 0.7]
    assert body["phases"][0] == created["phases"][0]
    assert body["phases"][1]["index"] == 1
    assert body["phases"][1]["weights"] == [0.3, 0.7]
    assert body["phases"][1]["started_at"] >= before
    shown = admin.get("/experiments/exp").json
    assert {k: v for k, v in shown.items() if k != "counts"} == body


def test_new_phase_with_weights_sets_them(admin: Admin) -> None:
    admin.experiment("exp")
    body = admin.post("/experiments/exp/phases", json={"weights": [0.9, 0.1]}).json
    assert body["weights"] == [0.9, 0.1]
    assert [p["weights"] for p in body["phases"]] == [[0.5, 0.5], [0.9, 0.1]]


def test_new_phase_of_a_stopped_experiment(admin: Admin) -> None:
    admin.experiment("exp")
    admin.post("/experiments/exp/stop")
    response = admin.post("/experiments/exp/phases", json={})
    assert response.status_code == 200
    assert response.json["status"] == "stopped"
    assert len(response.json["phases"]) == 2


def _complete(admin: Admin) -> None:
    admin.experiment("exp")
    admin.post("/experiments/exp/complete", json={"winner": "control"})


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda admin: admin.experiment("exp", start=False),
            "cannot start a phase of an experiment that is draft",
        ),
        (_complete, "cannot start a phase of an experiment that is completed"),
    ],
    ids=["draft", "completed"],
)
def test_new_phase_of_a_draft_or_completed_experiment_is_409(
    admin: Admin, redis: redis_py.Redis, setup: Any, message: str
) -> None:
    setup(admin)
    before = snapshot(redis)
    response = admin.post("/experiments/exp/phases", json={})
    assert response.status_code == 409
    assert (response.json["error"], response.json["message"]) == ("conflict", message)
    assert snapshot(redis) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weights": [0.5, 0.6]}, "weights"),
        ({"weights": [1.0]}, "weights"),
        ({"weights": [True, False]}, "weights[0]"),
        ({"weights": ["a", "b"]}, "weights[0]"),
        ({"weights": 0.5}, "weights"),
        ({"wieghts": [0.5, 0.5]}, "wieghts"),
        ([0.5, 0.5], "body"),
    ],
    ids=["sum", "count", "bool", "strings", "number", "typo", "not-an-object"],
)
def test_new_phase_with_bad_input_is_400_naming_the_field(
    admin: Admin, redis: redis_py.Redis, body: Any, field: str
) -> None:
    admin.experiment("exp")
    before = snapshot(redis)
    response = admin.post("/experiments/exp/phases", json=body)
    assert response.status_code == 400
    assert (response.json["error"], response.json["field"]) == ("invalid", field)
    assert snapshot(redis) == before


def test_new_phase_of_an_unknown_experiment_is_404(admin: Admin) -> None:
    assert admin.post("/experiments/nope/phases", json={}).status_code == 404


def test_new_phase_needs_the_admin_token(
    admin: Admin, client: FlaskClient, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    before = snapshot(redis)
    assert client.post("/experiments/exp/phases", json={}).status_code == 401
    assert snapshot(redis) == before


# -- metrics and analysis round trips -----------------------------------------


def test_metric_objects_and_analysis_round_trip_through_create_and_get(
    admin: Admin,
) -> None:
    metrics = [
        "purchase",
        {"event": "revenue", "type": "value", "cap": 250.5, "window": 604_800},
        {
            "event": "refund",
            "type": "value",
            "role": "guardrail",
            "direction": "lower",
            "margin": 0.02,
            "cap_percentile": 0.99,
        },
    ]
    analysis = {"alpha": 0.01, "planned_users": 40_000, "correction": "bh"}
    created = admin.post(
        "/experiments",
        json={
            "key": "exp",
            "variations": ["a", "b"],
            "metrics": metrics,
            "analysis": analysis,
        },
    ).json
    shown = admin.get("/experiments/exp").json
    assert shown["metrics"] == created["metrics"]
    assert shown["analysis"] == created["analysis"]
    defaults = {"type": "conversion", "direction": "higher", "margin": None}
    defaults |= {"cap": None, "cap_percentile": None, "window": None}
    assert shown["metrics"] == [
        {"event": "purchase", "role": "primary", **defaults},
        {**defaults, **metrics[1], "role": "secondary"},
        {**defaults, **metrics[2]},
    ]
    assert shown["analysis"] == {
        "alpha": 0.01,
        "power": 0.8,
        "mde": 0.05,
        "planned_users": 40_000,
        "mode": "sequential",
        "correction": "bh",
        "min_sample": 150,
    }
    # What GET shows is a valid body: sending it back changes nothing.
    again = admin.patch(
        "/experiments/exp",
        json={"metrics": shown["metrics"], "analysis": shown["analysis"]},
    ).json
    assert (again["metrics"], again["analysis"]) == (
        shown["metrics"],
        shown["analysis"],
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metrics": ["a", {"event": "b", "margin": 0.1}]}, "metrics[1].margin"),
        ({"metrics": [{"event": "b", "colour": "red"}]}, "metrics[0].colour"),
        ({"analysis": {"alpha": 0.9}}, "analysis.alpha"),
        ({"analysis": {"alpha": True}}, "analysis.alpha"),
        ({"analysis": {"beta": 0.2}}, "analysis.beta"),
    ],
    ids=["margin-on-secondary", "unknown-metric-field", "alpha", "bool", "unknown"],
)
def test_bad_metrics_or_analysis_are_400_and_write_nothing(
    admin: Admin, redis: redis_py.Redis, body: dict[str, Any], field: str
) -> None:
    admin.experiment("exp")
    before = snapshot(redis)
    created = admin.post(
        "/experiments", json={"key": "new", "variations": ["a", "b"]} | body
    )
    patched = admin.patch("/experiments/exp", json=body)
    for response in (created, patched):
        assert response.status_code == 400
        assert response.json["field"] == field
    assert snapshot(redis) == before


# -- the CLI ------------------------------------------------------------------


def test_cli_new_phase_prints_the_experiment(
    runner: FlaskCliRunner, admin: Admin
) -> None:
    admin.experiment("exp")
    result = runner.invoke(args=["experiments", "new-phase", "exp"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    shown = admin.get("/experiments/exp").json
    assert {k: v for k, v in shown.items() if k != "counts"} == printed
    assert [p["weights"] for p in printed["phases"]] == [[0.5, 0.5], [0.5, 0.5]]


def test_cli_new_phase_with_weights(runner: FlaskCliRunner, admin: Admin) -> None:
    admin.experiment("exp")
    args = ["experiments", "new-phase", "exp", "--weights", "0.2,0.8"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["weights"] == [0.2, 0.8]
    assert printed["phases"][-1]["weights"] == [0.2, 0.8]


@pytest.mark.parametrize(
    ("start", "args", "body"),
    [
        (False, [], {}),
        (True, ["--weights", "0.5,0.6"], {"weights": [0.5, 0.6]}),
        (True, ["--weights", "half,half"], {"weights": ["half", "half"]}),
    ],
    ids=["draft", "weights-sum", "weights-word"],
)
def test_cli_new_phase_fails_as_the_api_does(
    runner: FlaskCliRunner,
    admin: Admin,
    redis: redis_py.Redis,
    start: bool,
    args: list[str],
    body: dict[str, Any],
) -> None:
    admin.experiment("exp", start=start)
    before = snapshot(redis)
    result = runner.invoke(args=["experiments", "new-phase", "exp", *args])
    assert (result.exit_code, result.stdout) == (1, "")
    assert snapshot(redis) == before
    api = admin.post("/experiments/exp/phases", json=body)
    assert result.stderr.strip() == f"Error: {api.json['message']}"
