"""Segments through the admin API, and the save-time checks of what uses them."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_py
from flask.testing import FlaskClient

from tests.helpers import Admin, snapshot

EU_PRO = {"country": {"$in": ["DE", "FR"]}, "plan": "pro"}


def segment(admin: Admin, **body: Any) -> Any:
    created = admin.post("/segments", json=body)
    assert created.status_code == 201, created.json
    return created.json


def test_create_list_get_patch_delete(admin: Admin) -> None:
    created = admin.post(
        "/segments", json={"key": "beta", "values": ["u-1", 2], "description": "b"}
    )
    assert created.status_code == 201
    assert created.headers["Location"] == "/segments/beta"
    assert created.json["values"] == ["u-1", 2] and created.json["version"] == 1
    segment(admin, key="eu-pro", condition=EU_PRO)
    listed = admin.get("/segments").json["segments"]
    assert [s["key"] for s in listed] == ["beta", "eu-pro"]
    got = admin.get("/segments/eu-pro").json
    assert got["condition"] == EU_PRO and got["values"] is None
    assert got["used_by"] == {}
    patched = admin.patch("/segments/beta", json={"values": ["u-3"]})
    assert patched.status_code == 200
    assert patched.json["values"] == ["u-3"] and patched.json["description"] == "b"
    assert patched.json["version"] == 2
    assert admin.delete("/segments/beta").json == {"deleted": "beta"}
    assert admin.get("/segments/beta").status_code == 404
    assert admin.delete("/segments/beta").status_code == 404


def test_segments_need_the_token(client: FlaskClient) -> None:
    assert client.get("/segments").status_code == 401
    assert client.post("/segments", json={"key": "a", "values": []}).status_code == 401


def test_a_duplicate_key_is_409(admin: Admin) -> None:
    segment(admin, key="beta", values=["u-1"])
    again = admin.post("/segments", json={"key": "beta", "values": ["u-2"]})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "s"}, "values"),
        ({"key": "s", "values": ["a"], "condition": {"a": 1}}, "values"),
        ({"key": "s", "values": ["a", True]}, "values[1]"),
        ({"key": "s", "values": ["x" * 257]}, "values[0]"),
        ({"key": "s", "values": ["a"] * 10_001}, "values"),
        ({"key": "s", "condition": {"plan": {"$in": "pro"}}}, "condition.plan.$in"),
        ({"key": "s", "condition": {"plan": {"$bogus": 1}}}, "condition.plan.$bogus"),
        (
            {"key": "s", "condition": {"name": {"$regex": "(a+)+$"}}},
            "condition.name.$regex",
        ),
        (
            {"key": "s", "condition": {"id": {"$inGroup": "nope"}}},
            "condition.id.$inGroup",
        ),
        ({"key": "s", "values": [], "colour": 1}, "colour"),
        ({"key": "bad key", "values": []}, "key"),
    ],
)
def test_a_bad_segment_is_400_naming_the_path_and_writes_nothing(
    admin: Admin, redis: redis_py.Redis, body: dict[str, Any], field: str
) -> None:
    before = snapshot(redis)
    response = admin.post("/segments", json=body)
    assert response.status_code == 400, response.json
    assert response.json["field"] == field
    assert snapshot(redis) == before


def test_a_condition_segment_may_use_list_segments_only(admin: Admin) -> None:
    segment(admin, key="beta", values=["u-1"])
    segment(admin, key="eu-pro", condition=EU_PRO)
    ok = admin.post(
        "/segments", json={"key": "beta-eu", "condition": {"id": {"$inGroup": "beta"}}}
    )
    assert ok.status_code == 201
    nested = admin.post(
        "/segments", json={"key": "x", "condition": {"id": {"$inGroup": "eu-pro"}}}
    )
    assert nested.status_code == 400
    assert nested.json["field"] == "condition.id.$inGroup"


def test_a_patch_cannot_change_the_kind(admin: Admin) -> None:
    segment(admin, key="beta", values=["u-1"])
    response = admin.patch("/segments/beta", json={"condition": {"a": 1}})
    assert response.status_code == 400
    assert response.json["field"] == "condition"


@pytest.mark.parametrize(
    ("path", "body", "kind"),
    [
        (
            "/experiments",
            {"key": "exp", "variations": ["a", "b"], "segments": ["eu-pro"]},
            "experiments",
        ),
        (
            "/experiments",
            {
                "key": "exp",
                "variations": ["a", "b"],
                "condition": {"id": {"$inGroup": "beta"}},
            },
            "experiments",
        ),
        (
            "/flags",
            {"key": "nav", "rules": [{"segments": ["eu-pro"], "force": 1}]},
            "flags",
        ),
        (
            "/segments",
            {"key": "x", "condition": {"id": {"$nin": [1], "$notInGroup": "beta"}}},
            "segments",
        ),
    ],
)
def test_deleting_a_segment_in_use_is_409_naming_who(
    admin: Admin, redis: redis_py.Redis, path: str, body: dict[str, Any], kind: str
) -> None:
    segment(admin, key="beta", values=["u-1"])
    segment(admin, key="eu-pro", condition=EU_PRO)
    assert admin.post(path, json=body).status_code == 201
    used = "eu-pro" if "eu-pro" in str(body) else "beta"
    before = snapshot(redis)
    response = admin.delete(f"/segments/{used}")
    assert response.status_code == 409
    assert f"{kind} {body['key']!r}" in response.json["message"]
    assert snapshot(redis) == before
    assert admin.get(f"/segments/{used}").json["used_by"] == {kind: [body["key"]]}
    assert admin.delete(f"{path}/{body['key']}").status_code == 200
    assert admin.delete(f"/segments/{used}").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"segments": ["nope"]}, "segments[0]"),
        ({"segments": ["beta"]}, "segments[0]"),  # a list segment: use $inGroup
        ({"condition": {"id": {"$inGroup": "nope"}}}, "condition.id.$inGroup"),
        ({"condition": {"id": {"$inGroup": "eu-pro"}}}, "condition.id.$inGroup"),
        ({"condition": {"name": {"$regex": "(a|a)*b"}}}, "condition.name.$regex"),
        (
            {"condition": {"$or": [{"a": 1}, {"b": {"$gt": []}}]}},
            "condition.$or[1].b.$gt",
        ),
    ],
)
def test_an_experiment_with_bad_targeting_is_400_and_writes_nothing(
    admin: Admin, redis: redis_py.Redis, body: dict[str, Any], field: str
) -> None:
    segment(admin, key="beta", values=["u-1"])
    segment(admin, key="eu-pro", condition=EU_PRO)
    before = snapshot(redis)
    created = admin.post(
        "/experiments", json={"key": "exp", "variations": ["a", "b"], **body}
    )
    assert created.status_code == 400, created.json
    assert created.json["field"] == field
    assert snapshot(redis) == before
    admin.experiment("exp")
    before = snapshot(redis)
    patched = admin.patch("/experiments/exp", json=body)
    assert patched.status_code == 400
    assert patched.json["field"] == field
    assert snapshot(redis) == before


def test_targeting_of_a_running_experiment_may_change(admin: Admin) -> None:
    segment(admin, key="eu-pro", condition=EU_PRO)
    admin.experiment("exp")
    patched = admin.patch("/experiments/exp", json={"segments": ["eu-pro"]})
    assert patched.status_code == 200, patched.json
    assert patched.json["segments"] == ["eu-pro"]
    cleared = admin.patch("/experiments/exp", json={"segments": None})
    assert "segments" not in cleared.json


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"requires": ["nope"]}, "requires[0]"),
        ({"requires": ["a", "nope"]}, "requires[1]"),
        ({"rules": [{"segments": ["nope"], "force": 1}]}, "rules[0].segments[0]"),
        (
            {
                "rules": [
                    {"force": 1},
                    {"condition": {"id": {"$inGroup": "x"}}, "force": 2},
                ]
            },
            "rules[1].condition.id.$inGroup",
        ),
        (
            {"rules": [{"condition": {"a": {"$regex": "(x+x+)+y"}}, "force": 1}]},
            "rules[0].condition.a.$regex",
        ),
        ({"value": "x" * 5000}, "value"),
    ],
)
def test_a_bad_flag_is_400_naming_the_path_and_writes_nothing(
    admin: Admin, redis: redis_py.Redis, body: dict[str, Any], field: str
) -> None:
    assert admin.post("/flags", json={"key": "a"}).status_code == 201
    before = snapshot(redis)
    response = admin.post("/flags", json={"key": "nav", **body})
    assert response.status_code == 400, response.json
    assert response.json["field"] == field
    assert snapshot(redis) == before


def test_a_cycle_of_prerequisites_is_400_naming_requires(
    admin: Admin, redis: redis_py.Redis
) -> None:
    assert admin.post("/flags", json={"key": "a"}).status_code == 201
    assert admin.post("/flags", json={"key": "b", "requires": ["a"]}).status_code == 201
    c = admin.post("/flags", json={"key": "c", "requires": ["b"]})
    assert c.status_code == 201
    before = snapshot(redis)
    cycle = admin.patch("/flags/a", json={"requires": ["c"]})
    assert cycle.status_code == 400
    assert cycle.json["field"] == "requires[0]"
    assert "a → c → b → a" in cycle.json["message"]
    itself = admin.patch("/flags/a", json={"requires": ["a"]})
    assert itself.json["field"] == "requires[0]"
    assert snapshot(redis) == before


def test_too_long_a_chain_of_prerequisites_is_400(admin: Admin) -> None:
    assert admin.post("/flags", json={"key": "f0"}).status_code == 201
    for i in range(1, 11):
        body = {"key": f"f{i}", "requires": [f"f{i - 1}"]}
        assert admin.post("/flags", json=body).status_code == 201
    deeper = admin.post("/flags", json={"key": "f11", "requires": ["f10"]})
    assert deeper.status_code == 400
    assert deeper.json["field"] == "requires[0]"


def test_deleting_a_required_flag_is_409_naming_who(
    admin: Admin, redis: redis_py.Redis
) -> None:
    assert admin.post("/flags", json={"key": "auth"}).status_code == 201
    for key in ("nav", "cart"):
        body = {"key": key, "requires": ["auth"]}
        assert admin.post("/flags", json=body).status_code == 201
    before = snapshot(redis)
    response = admin.delete("/flags/auth")
    assert response.status_code == 409
    assert "'cart', 'nav'" in response.json["message"]
    assert snapshot(redis) == before
    for key in ("nav", "cart"):
        assert admin.patch(f"/flags/{key}", json={"requires": []}).status_code == 200
    assert admin.delete("/flags/auth").status_code == 200
