"""The ``segments`` commands, and the targeting options of ``flags`` and
``experiments``: the admin API's calls, its messages, nothing written on error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis as redis_py
from click.testing import Result
from flask.testing import FlaskCliRunner

from tests.helpers import Admin, snapshot


def ok(runner: FlaskCliRunner, *args: str, input: str | None = None) -> Result:
    result = runner.invoke(args=list(args), input=input)
    assert result.exit_code == 0, result.output
    return result


def rejected(runner: FlaskCliRunner, redis: redis_py.Redis, *args: str) -> str:
    """Run a command that must fail with status 1 and write nothing; its message."""
    before = snapshot(redis)
    result = runner.invoke(args=list(args))
    assert result.exit_code == 1, result.output
    assert snapshot(redis) == before
    return result.stderr.strip().removeprefix("Error: ")


def test_segments_list(runner: FlaskCliRunner, admin: Admin) -> None:
    assert ok(runner, "segments", "list").stdout == "no segments\n"
    admin.post("/segments", json={"key": "beta", "values": ["u1", "u2"]})
    admin.post(
        "/segments",
        json={"key": "pro", "condition": {"plan": "pro"}, "description": "paying"},
    )
    assert ok(runner, "segments", "list").stdout.splitlines() == [
        "KEY   KIND       HOLDS           DESCRIPTION",
        "beta  list       2 values",
        'pro   condition  {"plan":"pro"}  paying',
    ]
    printed = json.loads(ok(runner, "segments", "list", "--json").stdout)
    assert printed == admin.get("/segments").json


def test_segments_create_show_update_delete(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis, tmp_path: Path
) -> None:
    created = json.loads(
        ok(runner, "segments", "create", "beta", "--values", "u1, 007,42").stdout
    )
    assert created["values"] == ["u1", "007", "42"]  # ids are strings
    assert admin.get("/segments/beta").json == {**created, "used_by": {}}
    ids = tmp_path / "ids.txt"
    ids.write_text("u7\n\nu8\n")
    ok(runner, "segments", "update", "beta", "--values", f"@{ids}")
    assert admin.get("/segments/beta").json["values"] == ["u7", "u8"]
    condition = '{"id": {"$inGroup": "beta"}, "plan": "pro"}'
    ok(runner, "segments", "create", "beta-pro", "--condition", condition)
    shown = json.loads(ok(runner, "segments", "show", "beta").stdout)
    assert shown["used_by"] == {"segments": ["beta-pro"]}
    message = rejected(runner, redis, "segments", "delete", "beta", "--yes")
    assert message == admin.delete("/segments/beta").json["message"]
    assert "segments 'beta-pro'" in message
    done = ok(runner, "segments", "delete", "beta-pro", "--yes")
    assert done.stdout == "deleted segment 'beta-pro'\n"
    ok(runner, "segments", "delete", "beta", "--yes")
    assert redis.keys("*") == []


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (
            ["--condition", '{"a": {"$regex": "(a+)+$"}}'],
            {"condition": {"a": {"$regex": "(a+)+$"}}},
        ),
        (
            ["--condition", '{"id": {"$inGroup": "x"}}'],
            {"condition": {"id": {"$inGroup": "x"}}},
        ),
        ([], {}),
        (["--json", '{"values": [true]}'], {"values": [True]}),
    ],
    ids=["regex", "unknown-group", "nothing", "boolean"],
)
def test_segments_reject_as_the_api_does(
    runner: FlaskCliRunner,
    admin: Admin,
    redis: redis_py.Redis,
    args: list[str],
    body: dict[str, object],
) -> None:
    message = rejected(runner, redis, "segments", "create", "s", *args)
    api = admin.post("/segments", json={"key": "s", **body})
    assert api.status_code == 400
    assert message == api.json["message"]


def test_segment_delete_asks_first(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.post("/segments", json={"key": "beta", "values": []})
    before = snapshot(redis)
    result = runner.invoke(args=["segments", "delete", "beta"], input="n\n")
    assert result.exit_code == 1
    assert snapshot(redis) == before
    assert rejected(runner, redis, "segments", "show", "nope") == (
        "segment 'nope' does not exist"
    )


def test_flag_rules_requires_and_values(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    ok(runner, "flags", "create", "auth", "--enabled")
    rules = '[{"condition": {"plan": "pro"}, "force": "gold"}]'
    args = ("--enabled", "--value", "blue", "--default", '{"c": 1}')
    created = json.loads(
        ok(
            runner,
            "flags",
            "create",
            "nav",
            *args,
            "--requires",
            "auth",
            "--rules",
            rules,
        ).stdout
    )
    assert created["value"] == "blue" and created["default"] == {"c": 1}
    assert created["requires"] == ["auth"]
    assert created["rules"] == json.loads(rules)
    assert "nav   on       100%     1      auth" in ok(runner, "flags", "list").stdout
    message = rejected(runner, redis, "flags", "update", "auth", "--requires", "nav")
    assert message.startswith("requires[0]: would make a cycle")
    message = rejected(runner, redis, "flags", "delete", "auth", "--yes")
    assert "required by flags 'nav'" in message
    ok(runner, "flags", "update", "nav", "--requires", "", "--rules", "null")
    updated = admin.get("/flags/nav/definition").json
    assert "requires" not in updated and "rules" not in updated


def test_experiment_targeting_options(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.post("/segments", json={"key": "pro", "condition": {"plan": "pro"}})
    args = ("--variations", "a,b", "--segments", "pro", "--condition", '{"n": 1}')
    created = json.loads(ok(runner, "experiments", "create", "exp", *args).stdout)
    assert (created["segments"], created["condition"]) == (["pro"], {"n": 1})
    message = rejected(
        runner, redis, "experiments", "patch", "exp", "--segments", "pro,nope"
    )
    assert message == "segments[1]: unknown segment 'nope'"
    ok(runner, "experiments", "patch", "exp", "--segments", "", "--condition", "null")
    patched = admin.get("/experiments/exp").json
    assert "segments" not in patched and "condition" not in patched
