"""The public flag check: rules, prerequisites and JSON values with attributes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from abflask.core import bucketing
from tests.helpers import Admin


def check(client: FlaskClient, key: str, user: str, attributes: Any = None) -> Any:
    path = f"/flags/{key}?user_id={user}"
    if attributes is not None:
        path += "&attributes=" + quote(json.dumps(attributes))
    response = client.get(path)
    assert response.status_code == 200, response.json
    return response.json


def flag(admin: Admin, **body: Any) -> Any:
    created = admin.post("/flags", json=body)
    assert created.status_code == 201, created.json
    return created.json


def test_a_plain_flag_answers_as_before_with_value_and_reason(
    admin: Admin, client: FlaskClient
) -> None:
    flag(admin, key="nav", enabled=True, rollout=1)
    assert check(client, "nav", "u1") == {
        "flag": "nav",
        "user_id": "u1",
        "on": True,
        "value": True,
        "reason": "flag_on",
    }
    admin.patch("/flags/nav", json={"enabled": False})
    assert check(client, "nav", "u1")["reason"] == "flag_off"


def test_a_rule_serves_its_json_value_to_matching_attributes(
    admin: Admin, client: FlaskClient
) -> None:
    flag(
        admin,
        key="theme",
        enabled=True,
        value={"color": "blue"},
        default={"color": "grey"},
        rules=[{"condition": {"plan": "pro"}, "force": {"color": "gold"}}],
    )
    pro = check(client, "theme", "u1", {"plan": "pro"})
    assert pro["value"] == {"color": "gold"} and pro["reason"] == "rule"
    free = check(client, "theme", "u1", {"plan": "free"})
    assert free["value"] == {"color": "blue"} and free["reason"] == "flag_on"
    assert free["on"] is True


def test_the_condition_sees_the_user_id_as_id(
    admin: Admin, client: FlaskClient
) -> None:
    flag(
        admin,
        key="staff",
        enabled=True,
        rollout=0,
        rules=[{"condition": {"id": {"$in": ["u-7"]}}, "force": True}],
    )
    assert check(client, "staff", "u-7", {"id": "someone-else"})["on"] is True
    assert check(client, "staff", "u-8", {"id": "u-7"})["reason"] == "not_in_rollout"


def test_a_rollout_rule_serves_the_share_its_seed_hashes_in(
    admin: Admin, client: FlaskClient
) -> None:
    flag(
        admin,
        key="beta",
        enabled=True,
        rollout=0,
        value="base",
        default="off",
        rules=[{"rollout": 0.3, "value": "beta", "seed": "s"}],
    )
    for user in (f"u{i}" for i in range(40)):
        inside = bucketing.in_rollout(user, "s", 0.3)
        answer = check(client, "beta", user)
        assert answer["value"] == ("beta" if inside else "off"), user


def test_a_prerequisite_that_is_off_serves_the_default(
    admin: Admin, client: FlaskClient
) -> None:
    flag(
        admin,
        key="auth",
        enabled=True,
        rules=[{"condition": {"country": "DE"}, "force": False}],
    )
    flag(admin, key="nav", enabled=True, value="new", default="old", requires=["auth"])
    assert check(client, "nav", "u1", {"country": "FR"})["value"] == "new"
    blocked = check(client, "nav", "u1", {"country": "DE"})
    assert blocked == {
        "flag": "nav",
        "user_id": "u1",
        "on": True,
        "value": "old",
        "reason": "prerequisite",
    }


def test_a_falsy_value_is_off(admin: Admin, client: FlaskClient) -> None:
    flag(admin, key="limit", enabled=True, value=0, default=10)
    answer = check(client, "limit", "u1")
    assert answer["value"] == 0 and answer["on"] is False


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ("{not json", "attributes"),
        ("[1, 2]", "attributes"),
        (json.dumps({"a": {"b": {"c": {"d": {}}}}}), "attributes.a.b.c.d"),
        (json.dumps({"tags": ["x"] * 101}), "attributes.tags"),
        (json.dumps({"name": "x" * 1025}), "attributes.name"),
    ],
)
def test_bad_attributes_are_400_naming_the_path(
    admin: Admin, client: FlaskClient, attributes: str, field: str
) -> None:
    flag(admin, key="nav", enabled=True)
    response = client.get(f"/flags/nav?user_id=u1&attributes={quote(attributes)}")
    assert response.status_code == 400
    assert response.json["field"] == field


def test_a_segment_in_a_rule_is_looked_up(admin: Admin, client: FlaskClient) -> None:
    created = admin.post("/segments", json={"key": "beta", "values": ["u1"]})
    assert created.status_code == 201, created.json
    flag(
        admin,
        key="nav",
        enabled=True,
        rollout=0,
        rules=[{"condition": {"id": {"$inGroup": "beta"}}, "force": "beta"}],
    )
    assert check(client, "nav", "u1")["value"] == "beta"
    assert check(client, "nav", "u2")["value"] is False
    admin.patch("/segments/beta", json={"values": ["u2"]})
    assert check(client, "nav", "u2")["value"] == "beta"
    assert check(client, "nav", "u1")["reason"] == "not_in_rollout"
