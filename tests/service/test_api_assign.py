"""``/process_user`` through the real app and a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_py
from flask.testing import FlaskClient

from abflask.core import bucketing as core
from tests.helpers import Admin, snapshot, until_phase_begins


def assign(client: FlaskClient, user: str, experiment: str | None = None) -> Any:
    query = {"user_id": user}
    if experiment:
        query["experiment"] = experiment
    response = client.get("/process_user", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def test_default_experiment_answers_at_once(client: FlaskClient) -> None:
    answer = assign(client, "42")
    assert answer == {
        "user_id": "42",
        "experiment": "default",
        "variation": answer["variation"],
        "in_experiment": True,
        "enrolled": True,
        "stored": True,
        "reason": "enrolled",
    }
    assert answer["variation"] in ("control", "experiment")


def test_default_experiment_follows_growthbook_hashing(client: FlaskClient) -> None:
    for user in ("1", "42", "user-😀", "ß-ü"):
        index = core.choose_variation(user, "default", [0.5, 0.5])
        assert assign(client, user)["variation"] == ["control", "experiment"][index]


def test_second_call_is_sticky_not_enrolled(client: FlaskClient) -> None:
    first = assign(client, "u1")
    second = assign(client, "u1")
    assert second["variation"] == first["variation"]
    assert (second["enrolled"], second["reason"]) == (False, "sticky")


def test_post_accepts_json_and_form(client: FlaskClient, admin: Admin) -> None:
    admin.experiment("exp")
    by_json = client.post("/process_user", json={"user_id": "u1", "experiment": "exp"})
    by_form = client.post("/process_user", data={"user_id": "u1", "experiment": "exp"})
    assert by_json.status_code == by_form.status_code == 200
    assert by_json.json["variation"] == by_form.json["variation"]
    assert by_form.json["reason"] == "sticky"


def test_sticky_after_weights_change(client: FlaskClient, admin: Admin) -> None:
    admin.experiment("exp", weights=[1.0, 0.0])
    users = [f"user-{i}" for i in range(50)]
    assert {assign(client, u, "exp")["variation"] for u in users} == {"control"}
    changed = admin.patch("/experiments/exp", json={"weights": [0.0, 1.0]})
    assert changed.status_code == 200
    assert [p["weights"] for p in changed.json["phases"]] == [[1.0, 0.0], [0.0, 1.0]]
    assert {assign(client, u, "exp")["variation"] for u in users} == {"control"}
    until_phase_begins(changed.json)
    assert {assign(client, u, "exp")["variation"] for u in users} == {"control"}
    assert assign(client, "newcomer", "exp")["variation"] == "treatment"


def test_sticky_after_coverage_drops(client: FlaskClient, admin: Admin) -> None:
    admin.experiment("exp")
    before = {u: assign(client, u, "exp")["variation"] for u in ("a", "b", "c")}
    admin.patch("/experiments/exp", json={"coverage": 0.0})
    after = {u: assign(client, u, "exp") for u in before}
    assert {u: a["variation"] for u, a in after.items()} == before
    assert all(a["in_experiment"] for a in after.values())
    assert assign(client, "newcomer", "exp")["reason"] == "excluded"


def test_outside_coverage_gets_first_variation_and_stores_nothing(
    client: FlaskClient, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp", coverage=0.0)
    before = snapshot(redis)
    answer = assign(client, "u1", "exp")
    assert (answer["variation"], answer["in_experiment"], answer["stored"]) == (
        "control",
        False,
        False,
    )
    assert snapshot(redis) == before


@pytest.mark.parametrize("action", ["draft", "stopped"])
def test_not_running_gets_first_variation_and_stores_nothing(
    client: FlaskClient, admin: Admin, redis: redis_py.Redis, action: str
) -> None:
    admin.experiment("exp", weights=[0.0, 1.0], start=action == "stopped")
    if action == "stopped":
        admin.post("/experiments/exp/stop")
    before = snapshot(redis)
    answer = assign(client, "u1", "exp")
    assert (answer["variation"], answer["in_experiment"], answer["reason"]) == (
        "control",
        False,
        "not_running",
    )
    assert snapshot(redis) == before


def test_completed_serves_winner_to_everyone(
    client: FlaskClient, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp", weights=[1.0, 0.0])
    assert assign(client, "old", "exp")["variation"] == "control"
    done = admin.post("/experiments/exp/complete", json={"winner": "treatment"})
    assert done.status_code == 200
    before = snapshot(redis)
    for user in ("old", "new"):
        answer = assign(client, user, "exp")
        assert (answer["variation"], answer["reason"]) == ("treatment", "winner")
        assert answer["enrolled"] is False
    assert snapshot(redis) == before


def test_cap_reached_gets_first_variation(client: FlaskClient, admin: Admin) -> None:
    admin.experiment("exp", weights=[0.0, 1.0], max_participants=3)
    answers = [assign(client, f"u{i}", "exp") for i in range(5)]
    assert [a["enrolled"] for a in answers] == [True, True, True, False, False]
    assert [a["variation"] for a in answers[3:]] == ["control", "control"]
    assert answers[4]["reason"] == "full"
    assert assign(client, "u0", "exp")["variation"] == "treatment"


def test_namespace_excludes_users_outside_its_range(
    client: FlaskClient, admin: Admin
) -> None:
    admin.experiment("exp", namespace={"id": "checkout", "range": [0, 0.5]})
    for i in range(40):
        user = f"user-{i}"
        inside = core.in_namespace(user, ("checkout", 0, 0.5))
        assert assign(client, user, "exp")["in_experiment"] is inside


def test_unknown_experiment_is_404_and_writes_nothing(
    client: FlaskClient, redis: redis_py.Redis
) -> None:
    response = client.get("/process_user?user_id=u1&experiment=nope")
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
    assert redis.keys("*") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "user_id"),
        ("user_id=", "user_id"),
        ("user_id=" + "x" * 257, "user_id"),
        ("user_id=a%0Ab", "user_id"),
        ("user_id=u1&experiment=bad%20key", "experiment"),
        ("user_id=u1&experiment=" + "k" * 65, "experiment"),
    ],
    ids=["missing", "empty", "too-long", "control-char", "bad-key", "long-key"],
)
def test_malformed_request_is_400_and_writes_nothing(
    client: FlaskClient, redis: redis_py.Redis, query: str, field: str
) -> None:
    response = client.get("/process_user?" + query)
    assert response.status_code == 400
    assert response.json["error"] == "invalid"
    assert response.json["field"] == field
    assert field in response.json["message"]
    assert redis.keys("*") == []


def test_post_with_bad_json_is_400(client: FlaskClient, redis: redis_py.Redis) -> None:
    response = client.post(
        "/process_user", data="[1, 2", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json["field"] == "body"
    assert redis.keys("*") == []


def test_recreated_experiment_does_not_reuse_remembered_assignments(
    client: FlaskClient, admin: Admin
) -> None:
    admin.experiment("exp", weights=[1.0, 0.0])
    assert assign(client, "u1", "exp")["variation"] == "control"
    assert admin.delete("/experiments/exp").status_code == 200
    admin.experiment("exp", weights=[0.0, 1.0])
    again = assign(client, "u1", "exp")
    assert (again["variation"], again["reason"]) == ("treatment", "enrolled")
