"""Targeting on ``/process_user`` and ``/sdk/exposures``: attributes, conditions,
segments, and GrowthBook's sticky-bucketing precedence, against a real Redis."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient

from abflask.service.extension import EXTENSION
from tests.helpers import SDK_KEY, Admin, Restartable, make_app, snapshot

HEADERS = {"X-SDK-Key": SDK_KEY}
PRO = {"plan": "pro"}
FREE = {"plan": "free"}
NOT_TARGETED = {
    "variation": "control",
    "in_experiment": False,
    "enrolled": False,
    "stored": False,
    "reason": "not_targeted",
}


def get(
    client: FlaskClient, user: str, attributes: Any = None, exp: str = "exp"
) -> Any:
    path = f"/process_user?user_id={user}&experiment={exp}"
    if attributes is not None:
        path += "&attributes=" + quote(json.dumps(attributes))
    return client.get(path)


def assigned(client: FlaskClient, user: str, attributes: Any = None) -> Any:
    response = get(client, user, attributes)
    assert response.status_code == 200, response.json
    return response.json


def expose(client: FlaskClient, *entries: dict[str, Any]) -> Any:
    return client.post(
        "/sdk/exposures", json={"exposures": list(entries)}, headers=HEADERS
    )


def subset(answer: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(answer[k] == v for k, v in expected.items())


@pytest.fixture
def targeted(admin: Admin) -> Any:
    """A running experiment for pro users."""
    return admin.experiment("exp", condition={"plan": "pro"})


def test_a_matching_user_is_enrolled(client: FlaskClient, targeted: Any) -> None:
    answer = assigned(client, "u1", PRO)
    assert answer["reason"] == "enrolled" and answer["in_experiment"] is True


def test_a_user_who_does_not_match_gets_the_first_variation_and_nothing_is_written(
    client: FlaskClient, redis: redis_py.Redis, targeted: Any
) -> None:
    before = snapshot(redis)
    for attributes in (FREE, None, {}):
        assert subset(assigned(client, "u1", attributes), NOT_TARGETED)
    assert snapshot(redis) == before


def test_post_takes_attributes_in_the_json_body(
    client: FlaskClient, redis: redis_py.Redis, targeted: Any
) -> None:
    before = snapshot(redis)
    body = {"user_id": "u1", "experiment": "exp", "attributes": FREE}
    assert subset(client.post("/process_user", json=body).json, NOT_TARGETED)
    assert snapshot(redis) == before
    body["attributes"] = PRO
    assert client.post("/process_user", json=body).json["reason"] == "enrolled"


def test_post_takes_attributes_as_json_text_in_a_form(
    client: FlaskClient, targeted: Any
) -> None:
    form = {"user_id": "u1", "experiment": "exp", "attributes": json.dumps(PRO)}
    assert client.post("/process_user", data=form).json["reason"] == "enrolled"


def test_the_condition_sees_the_user_id_as_id(
    admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp", condition={"id": {"$in": ["u-7"]}})
    assert assigned(client, "u-7", {"id": "other"})["reason"] == "enrolled"
    assert assigned(client, "u-8", {"id": "u-7"})["reason"] == "not_targeted"


def test_an_enrolled_user_keeps_their_variation_whatever_their_attributes(
    client: FlaskClient, redis: redis_py.Redis, targeted: Any
) -> None:
    first = assigned(client, "u1", PRO)
    before = snapshot(redis)
    again = assigned(client, "u1", FREE)  # remembered by this worker
    assert again["reason"] == "sticky" and again["variation"] == first["variation"]
    assert again["in_experiment"] is True and again["stored"] is True
    assert snapshot(redis) == before


@pytest.mark.parametrize("way", ["process_user", "exposures"])
def test_a_worker_that_never_saw_the_user_answers_the_stored_variation(
    redis_server: Any,
    redis: redis_py.Redis,
    client: FlaskClient,
    targeted: Any,
    way: str,
) -> None:
    other = make_app(redis_server.url).test_client()  # remembers nobody
    variations = {
        user: assigned(client, user, PRO)["variation"]
        for user in (f"u{i}" for i in range(20))
    }
    assert set(variations.values()) == {"control", "treatment"}
    before = snapshot(redis)
    for user, variation in variations.items():
        if way == "process_user":
            answer = assigned(other, user, FREE)
        else:
            entry = {"experiment": "exp", "user_id": user, "attributes": FREE}
            [answer] = expose(other, entry).json["assignments"]
            assert answer["final"] is True
        assert answer["reason"] == "sticky", user
        assert answer["variation"] == variation
    assert snapshot(redis) == before


@pytest.mark.parametrize(
    ("change", "reason", "variation"),
    [
        ("stop", "not_running", "control"),
        ("complete", "winner", "treatment"),
    ],
)
def test_stopped_and_completed_experiments_answer_as_before(
    admin: Admin,
    client: FlaskClient,
    redis: redis_py.Redis,
    targeted: Any,
    change: str,
    reason: str,
    variation: str,
) -> None:
    body = {"winner": "treatment"} if change == "complete" else None
    admin.post(f"/experiments/exp/{change}", json=body)
    before = snapshot(redis)
    for attributes in (PRO, FREE):
        answer = assigned(client, "u1", attributes)
        assert (answer["reason"], answer["variation"]) == (reason, variation)
    assert snapshot(redis) == before


def test_a_draft_answers_as_before(admin: Admin, client: FlaskClient) -> None:
    admin.experiment("exp", start=False, condition={"plan": "pro"})
    for attributes in (PRO, FREE):
        assert assigned(client, "u1", attributes)["reason"] == "not_running"


def test_coverage_still_excludes_a_matching_user(
    admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp", condition={"plan": "pro"}, coverage=0)
    assert assigned(client, "u1", PRO)["reason"] == "excluded"
    assert assigned(client, "u1", FREE)["reason"] == "not_targeted"


def test_condition_segments_and_list_segments(
    admin: Admin, client: FlaskClient
) -> None:
    admin.post(
        "/segments", json={"key": "eu", "condition": {"country": {"$in": ["DE", "FR"]}}}
    )
    admin.post("/segments", json={"key": "beta", "values": ["u1", "u2"]})
    admin.experiment("exp", segments=["eu"], condition={"id": {"$inGroup": "beta"}})
    assert assigned(client, "u1", {"country": "DE"})["reason"] == "enrolled"
    assert assigned(client, "u2", {"country": "US"})["reason"] == "not_targeted"
    assert assigned(client, "u3", {"country": "FR"})["reason"] == "not_targeted"
    admin.patch("/segments/beta", json={"values": ["u3"]})
    assert assigned(client, "u3", {"country": "FR"})["reason"] == "enrolled"


def test_a_three_clause_condition(admin: Admin, client: FlaskClient) -> None:
    condition = {
        "country": {"$in": ["DE", "FR"]},
        "plan": "pro",
        "app_version": {"$vgte": "2.1.0"},
    }
    admin.experiment("exp", condition=condition)
    user = {"country": "DE", "plan": "pro", "app_version": "2.10.0"}
    assert assigned(client, "u1", user)["reason"] == "enrolled"
    old = {**user, "app_version": "2.0.9"}
    assert assigned(client, "u2", old)["reason"] == "not_targeted"


def test_exposures_are_targeted_per_entry(
    client: FlaskClient, redis: redis_py.Redis, targeted: Any
) -> None:
    before = snapshot(redis)
    response = expose(
        client,
        {"experiment": "exp", "user_id": "u1", "attributes": FREE},
        {"experiment": "exp", "user_id": "u2"},
    )
    assert response.status_code == 200
    for answer in response.json["assignments"]:
        assert subset(answer, NOT_TARGETED) and answer["final"] is True
    assert snapshot(redis) == before
    [entry] = expose(
        client, {"experiment": "exp", "user_id": "u1", "attributes": PRO}
    ).json["assignments"]
    assert entry["reason"] == "enrolled"
    [entry] = expose(
        client, {"experiment": "exp", "user_id": "u1", "attributes": FREE}
    ).json["assignments"]
    assert entry["reason"] == "sticky"


BAD_ATTRIBUTES = [
    ({"a": {"b": {"c": {"d": [1]}}}}, ".a.b.c.d"),
    ({f"k{i}": i for i in range(51)}, ""),
    ({"name": "x" * 1025}, ".name"),
    ({"tags": list(range(101))}, ".tags"),
    ({"k" * 65: 1}, ""),
    ({f"k{i}": "x" * 1000 for i in range(9)}, ""),  # over 8 KiB as JSON
    ([1, 2], ""),
    ("pro", ""),
]


@pytest.mark.parametrize(("attributes", "suffix"), BAD_ATTRIBUTES)
def test_bad_attributes_are_400_naming_the_path_and_write_nothing(
    client: FlaskClient,
    redis: redis_py.Redis,
    targeted: Any,
    attributes: Any,
    suffix: str,
) -> None:
    before = snapshot(redis)
    response = get(client, "u1", attributes)
    assert response.status_code == 400
    assert response.json["field"] == "attributes" + suffix
    body = {"user_id": "u1", "experiment": "exp", "attributes": attributes}
    if not isinstance(attributes, str):  # a string in JSON is JSON text
        response = client.post("/process_user", json=body)
        assert response.status_code == 400
        assert response.json["field"] == "attributes" + suffix
    entry = {"experiment": "exp", "user_id": "u1", "attributes": attributes}
    response = expose(client, {"experiment": "exp", "user_id": "u2"}, entry)
    assert response.status_code == 400
    assert response.json["field"] == "exposures[1].attributes" + suffix
    assert snapshot(redis) == before


@pytest.mark.parametrize(
    "raw", ["{plan: pro}", "", '{"a": 1', "[" * 100_000, "[" * 5000 + "]" * 5000, "NaN"]
)
def test_attributes_that_are_not_json_are_400_naming_attributes(
    client: FlaskClient, redis: redis_py.Redis, targeted: Any, raw: str
) -> None:
    before = snapshot(redis)
    response = client.get(
        f"/process_user?user_id=u1&experiment=exp&attributes={quote(raw)}"
    )
    assert response.status_code == 400
    assert response.json["field"] == "attributes"
    assert snapshot(redis) == before


def test_attributes_are_checked_for_an_untargeted_experiment_too(
    admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    assert get(client, "u1", {"a": {"b": {"c": {"d": {}}}}}).status_code == 400
    assert assigned(client, "u1", PRO)["reason"] == "enrolled"


def test_redis_down_answers_first_variation_unstored_for_a_user_not_targeted(
    restartable: Restartable,
) -> None:
    app = make_app(restartable.url)
    admin = Admin(app.test_client())
    admin.experiment("exp", condition={"plan": "pro"})
    client = app.test_client()
    assert assigned(client, "u0", PRO)["reason"] == "enrolled"  # cached now
    restartable.stop()
    try:
        answer = assigned(client, "u1", FREE)
        assert answer["reason"] == "unavailable"
        assert (answer["variation"], answer["in_experiment"]) == ("control", False)
    finally:
        app.extensions[EXTENSION].definitions.close()


def test_evaluation_reads_only_the_segments_named(app: Flask, admin: Admin) -> None:
    """However many segments are saved, a decision looks at the ones it names
    (and the list segments those name): its saved groups stay that small."""
    for i in range(5):
        admin.post("/segments", json={"key": f"list{i}", "values": [f"u{i}"]})
    admin.post(
        "/segments", json={"key": "eu", "condition": {"id": {"$inGroup": "list1"}}}
    )
    admin.experiment("exp", segments=["eu"], condition={"id": {"$nin": ["x"]}})
    rule = {"condition": {"id": {"$inGroup": "list2"}}, "force": 1}
    admin.post("/flags", json={"key": "nav", "enabled": True, "rules": [rule]})
    definitions = app.extensions[EXTENSION].definitions
    target = definitions.target(definitions.experiment("exp"))
    assert target is not None and set(target.groups) == {"list1"}
    [compiled] = definitions.compiled_flags()["nav"].rules
    assert compiled.target is not None and set(compiled.target.groups) == {"list2"}
