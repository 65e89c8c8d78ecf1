"""Definitions pushed to every worker: two apps on one real Redis stand for two
workers. The second caches for an hour, so only the push (or a re-read of a
miss) can make it see a change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient

from abflask.service.extension import EXTENSION
from abflask.storage import localredis
from tests.helpers import Admin, make_app


@pytest.fixture
def other(
    redis_server: localredis.LocalRedis, redis: redis_py.Redis
) -> Iterator[Flask]:
    """A second worker whose cache never expires by itself."""
    app = make_app(redis_server.url, ABFLASK_CONFIG_TTL=3600.0)
    yield app
    app.extensions[EXTENSION].definitions.close()


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> float:
    """Seconds until ``check()`` held (fails after ``seconds``)."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < seconds, "never happened"
        time.sleep(0.005)
    return time.monotonic() - began


def answer(app: Flask, user: str, key: str) -> Any:
    response = app.test_client().get(f"/process_user?user_id={user}&experiment={key}")
    return response.status_code, response.json.get("reason")


def listening(app: Flask) -> None:
    definitions = app.extensions[EXTENSION].definitions
    definitions.experiments()  # starts the listener
    eventually(lambda: definitions._listener is not None and definitions._listener.live)


def test_a_created_experiment_is_found_at_once(other: Flask, admin: Admin) -> None:
    admin.experiment("old")
    assert answer(other, "u1", "old") == (200, "enrolled")  # cache loaded
    admin.experiment("new")
    assert answer(other, "u1", "new") == (200, "enrolled")


def test_a_stop_reaches_a_returning_user_of_another_worker(
    other: Flask, admin: Admin
) -> None:
    admin.experiment("exp")
    listening(other)
    assert answer(other, "u1", "exp") == (200, "enrolled")
    assert answer(other, "u1", "exp") == (200, "sticky")  # remembered
    admin.post("/experiments/exp/stop")
    eventually(lambda: answer(other, "u1", "exp") == (200, "not_running"), 0.5)


def test_a_flag_change_reaches_another_worker(other: Flask, admin: Admin) -> None:
    admin.post("/flags", json={"key": "nav", "enabled": True, "rollout": 1})
    check = other.test_client()
    listening(other)
    assert check.get("/flags/nav?user_id=u1").json["on"] is True
    admin.patch("/flags/nav", json={"enabled": False})
    eventually(lambda: check.get("/flags/nav?user_id=u1").json["on"] is False, 0.5)


def test_a_new_flag_is_found_at_once(other: Flask, admin: Admin) -> None:
    admin.post("/flags", json={"key": "old", "enabled": True, "rollout": 1})
    check = other.test_client()
    assert check.get("/flags/old?user_id=u1").status_code == 200
    admin.post("/flags", json={"key": "new", "enabled": True, "rollout": 1})
    assert check.get("/flags/new?user_id=u1").status_code == 200


def reads(redis: redis_py.Redis) -> int:
    stats = redis.info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))


def test_unknown_keys_are_read_once_until_a_change(
    other: Flask, admin: Admin, redis: redis_py.Redis
) -> None:
    listening(other)
    assert answer(other, "u1", "nope")[0] == 404
    before = reads(redis)
    for i in range(50):
        assert answer(other, f"u{i}", "nope")[0] == 404
    assert reads(redis) == before  # remembered as missing
    admin.experiment("nope")  # the change announcement forgets the miss
    eventually(lambda: answer(other, "u1", "nope") == (200, "enrolled"), 0.5)


def test_the_command_line_announces_its_changes(
    other: Flask, client: FlaskClient, admin: Admin, app: Flask
) -> None:
    admin.experiment("exp")
    listening(other)
    assert answer(other, "u1", "exp") == (200, "enrolled")
    result = app.test_cli_runner().invoke(args=["experiments", "stop", "exp"])
    assert result.exit_code == 0, result.output
    eventually(lambda: answer(other, "u1", "exp") == (200, "not_running"), 0.5)


def test_a_segment_change_reaches_another_worker(other: Flask, admin: Admin) -> None:
    admin.post("/segments", json={"key": "beta", "values": ["u1"]})
    rule = {"condition": {"id": {"$inGroup": "beta"}}, "force": "beta"}
    admin.post("/flags", json={"key": "nav", "enabled": True, "rules": [rule]})
    check = other.test_client()
    listening(other)
    assert check.get("/flags/nav?user_id=u2").json["reason"] == "flag_on"
    admin.patch("/segments/beta", json={"values": ["u1", "u2"]})
    eventually(lambda: check.get("/flags/nav?user_id=u2").json["value"] == "beta", 0.5)


def test_a_condition_segment_change_reaches_another_worker(
    other: Flask, admin: Admin
) -> None:
    admin.post("/segments", json={"key": "pro", "condition": {"plan": "pro"}})
    admin.experiment("exp", segments=["pro"])
    listening(other)
    free = quote(json.dumps({"plan": "free"}))
    path = f"/process_user?user_id=u1&experiment=exp&attributes={free}"
    assert answer_of(other, path) == "not_targeted"
    admin.patch("/segments/pro", json={"condition": {"plan": {"$in": ["pro", "free"]}}})
    eventually(lambda: answer_of(other, path) == "enrolled", 0.5)


def answer_of(app: Flask, path: str) -> Any:
    return app.test_client().get(path).json["reason"]
