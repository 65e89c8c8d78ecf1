"""The ``flask`` / ``abflask`` commands: output, state in Redis, errors, analyze."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
from click.testing import Result
from flask.testing import FlaskClient, FlaskCliRunner

from abflask.service.app import create_app
from abflask.storage import localredis
from abflask.storage.localredis import LocalRedis
from tests.helpers import PREFIX, Admin, make_app, snapshot


def ok(runner: FlaskCliRunner, *args: str, input: str | None = None) -> Result:
    result = runner.invoke(args=list(args), input=input)
    assert result.exit_code == 0, result.output
    return result


def rejected(runner: FlaskCliRunner, redis: redis_py.Redis, *args: str) -> str:
    """Run a command that must fail with status 1 and write nothing; its message."""
    before = snapshot(redis)
    result = runner.invoke(args=list(args))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert snapshot(redis) == before
    return result.stderr.strip().removeprefix("Error: ")


def enroll(client: FlaskClient, *users: str) -> dict[str, str]:
    """Send each user to ``exp``; returns the variation each got."""
    return {
        u: client.get(f"/process_user?user_id={u}&experiment=exp").json["variation"]
        for u in users
    }


def metric(event: str, **fields: Any) -> dict[str, Any]:
    """A metric as the API prints it: every field, defaults unless given."""
    return {
        "event": event,
        "type": "conversion",
        "role": "primary",
        "direction": "higher",
        "margin": None,
        "cap": None,
        "cap_percentile": None,
        "window": None,
        **fields,
    }


ANALYSIS_DEFAULTS = {
    "alpha": 0.05,
    "power": 0.8,
    "mde": 0.05,
    "planned_users": 10_000,
    "mode": "sequential",
    "correction": "holm",
    "min_sample": 150,
}


# -- experiments: reading -----------------------------------------------------


def test_list_without_experiments(runner: FlaskCliRunner) -> None:
    assert ok(runner, "experiments", "list").stdout == "no experiments\n"


def test_list_is_a_table(
    runner: FlaskCliRunner, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    admin.post("/experiments", json={"key": "other", "variations": ["a", "b", "c"]})
    enroll(client, "u1", "u2", "u3")
    assert ok(runner, "experiments", "list").stdout.splitlines() == [
        "KEY    STATUS   VARIATIONS          PARTICIPANTS",
        "exp    running  control, treatment  3",
        "other  draft    a, b, c             0",
    ]


def test_list_json_is_the_api_json(runner: FlaskCliRunner, admin: Admin) -> None:
    admin.experiment("exp", metrics=["buy"])
    admin.experiment("two", start=False)
    printed = json.loads(ok(runner, "experiments", "list", "--json").stdout)
    assert printed == admin.get("/experiments").json


def test_show_is_the_api_json(
    runner: FlaskCliRunner, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    enroll(client, "u1")
    printed = json.loads(ok(runner, "experiments", "show", "exp").stdout)
    assert printed == admin.get("/experiments/exp").json
    assert printed["counts"]["participants"] == 1


def test_counts_are_readable(
    runner: FlaskCliRunner, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp")
    got = enroll(client, "u1", "u2", "u3")
    client.post("/track", json={"user_id": "u1", "event": "buy", "value": 9.5})
    client.post("/track", json={"user_id": "u1", "event": "buy", "value": 0.5})
    client.post("/track", json={"user_id": "u2", "event": "view"})
    n = {v: list(got.values()).count(v) for v in ("control", "treatment")}
    lines = ok(runner, "experiments", "counts", "exp").stdout.splitlines()
    assert lines[:4] == [
        "exp (running): 3 participants",
        "VARIATION  PARTICIPANTS",
        f"control    {n['control']}",
        f"treatment  {n['treatment']}",
    ]
    assert lines[4] == ""
    assert lines[5].split() == ["EVENT", "VARIATION", "USERS", "COUNT", "SUM"]
    assert [line.split() for line in lines[6:]] == [
        ["buy", got["u1"], "1", "2", "10"],
        ["view", got["u2"], "1", "1", "0"],
    ]


# -- experiments: changing ----------------------------------------------------


def test_create_with_every_option(runner: FlaskCliRunner, admin: Admin) -> None:
    printed = json.loads(
        ok(
            runner,
            *("experiments", "create", "btn", "--variations", "control, green"),
            *("--name", "Green button", "--weights", "0.2,0.8", "--coverage", "0.5"),
            *("--seed", "s1", "--hash-version", "1", "--max-participants", "100"),
            *("--metrics", "buy,view", "--namespace", "checkout:0:0.5"),
        ).stdout
    )
    stored = admin.get("/experiments/btn").json
    assert {k: v for k, v in stored.items() if k != "counts"} == printed
    assert printed | {"created_at": None} == {
        "key": "btn",
        "name": "Green button",
        "variations": ["control", "green"],
        "weights": [0.2, 0.8],
        "coverage": 0.5,
        "seed": "s1",
        "hash_version": 1,
        "max_participants": 100,
        "metrics": [metric("buy"), metric("view", role="secondary")],
        "namespace": {"id": "checkout", "range": [0, 0.5]},
        "analysis": ANALYSIS_DEFAULTS,
        "phases": [],
        "status": "draft",
        "winner": None,
        "created_at": None,
        "started_at": None,
        "stopped_at": None,
        "completed_at": None,
        "version": printed["version"],
    }


def test_create_with_metric_objects_and_analysis(
    runner: FlaskCliRunner, admin: Admin
) -> None:
    metrics = [
        {"event": "revenue", "type": "value", "cap_percentile": 0.99},
        {"event": "refund", "role": "guardrail", "direction": "lower", "margin": 0.01},
    ]
    printed = json.loads(
        ok(
            runner,
            *("experiments", "create", "btn", "--variations", "a,b"),
            *("--metrics", json.dumps(metrics)),
            *("--analysis", '{"alpha": 0.01, "mode": "fixed"}'),
        ).stdout
    )
    assert printed["metrics"] == [
        metric("revenue", type="value", cap_percentile=0.99),
        metric("refund", role="guardrail", direction="lower", margin=0.01),
    ]
    assert printed["analysis"] == ANALYSIS_DEFAULTS | {"alpha": 0.01, "mode": "fixed"}
    api = admin.get("/experiments/btn").json
    assert (api["metrics"], api["analysis"]) == (
        printed["metrics"],
        printed["analysis"],
    )


def test_patch_analysis_merges_as_the_api_does(
    runner: FlaskCliRunner, admin: Admin
) -> None:
    admin.experiment("exp", analysis={"alpha": 0.01})
    ok(runner, "experiments", "patch", "exp", "--analysis", '{"min_sample": 500}')
    admin.experiment("two", analysis={"alpha": 0.01})
    admin.patch("/experiments/two", json={"analysis": {"min_sample": 500}})
    by_cli = admin.get("/experiments/exp").json["analysis"]
    assert by_cli == admin.get("/experiments/two").json["analysis"]
    assert by_cli == ANALYSIS_DEFAULTS | {"alpha": 0.01, "min_sample": 500}
    ok(runner, "experiments", "patch", "exp", "--analysis", "null")
    assert admin.get("/experiments/exp").json["analysis"] == ANALYSIS_DEFAULTS


@pytest.mark.parametrize("how", ["inline", "file", "stdin"])
def test_create_from_a_json_body(
    runner: FlaskCliRunner, admin: Admin, tmp_path: Path, how: str
) -> None:
    body = json.dumps({"variations": ["a", "b"], "coverage": 0.3, "metrics": ["x"]})
    path = tmp_path / "body.json"
    path.write_text(body)
    spec = {"inline": body, "file": f"@{path}", "stdin": "-"}[how]
    args = ("experiments", "create", "btn", "--json", spec, "--coverage", "0.7")
    ok(runner, *args, input=body if how == "stdin" else None)
    stored = admin.get("/experiments/btn").json
    assert (stored["variations"], stored["metrics"]) == (["a", "b"], [metric("x")])
    assert stored["coverage"] == 0.7  # the option wins over the body


# Each case: the command's options, and the same change as the API's JSON body.
BAD_CREATES = {
    "weights-sum": (["--weights", "0.5,0.6"], {"weights": [0.5, 0.6]}),
    "weights-word": (["--weights", "half,half"], {"weights": ["half", "half"]}),
    "weights-count": (["--weights", "1"], {"weights": [1]}),
    "coverage": (["--coverage", "2"], {"coverage": 2}),
    "hash-version": (["--hash-version", "3"], {"hash_version": 3}),
    "cap": (["--max-participants", "0"], {"max_participants": 0}),
    "metric": (["--metrics", "$bad"], {"metrics": ["$bad"]}),
    "metric-object": (
        ["--metrics", '[{"event": "x", "margin": 0.1}]'],
        {"metrics": [{"event": "x", "margin": 0.1}]},
    ),
    "analysis": (["--analysis", '{"alpha": 1}'], {"analysis": {"alpha": 1}}),
    "namespace": (["--namespace", "ns:0.5:0.1"], {"namespace": ["ns", 0.5, 0.1]}),
    "unknown-field": (["--json", '{"colour": 1}'], {"colour": 1}),
}


@pytest.mark.parametrize(("args", "body"), BAD_CREATES.values(), ids=BAD_CREATES)
def test_create_rejects_as_the_api_does(
    runner: FlaskCliRunner,
    admin: Admin,
    redis: redis_py.Redis,
    args: list[str],
    body: dict[str, Any],
) -> None:
    command = ["experiments", "create", "btn", "--variations", "a,b", *args]
    message = rejected(runner, redis, *command)
    api = admin.post(
        "/experiments", json={"key": "btn", "variations": ["a", "b"]} | body
    )
    assert api.status_code == 400
    assert message == api.json["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "body: not valid JSON"),
        (" ", "body: a JSON object is required"),
        ("[1]", "body: must be a JSON object"),
        ('{"key": "other"}', "key: 'other' in --json differs from KEY 'btn'"),
        ("[" * 2000 + "]" * 2000, "body: JSON nested too deeply"),
    ],
    ids=["malformed", "empty", "not-an-object", "other-key", "nested-too-deeply"],
)
def test_create_rejects_a_bad_body(
    runner: FlaskCliRunner, redis: redis_py.Redis, body: str, message: str
) -> None:
    args = ("experiments", "create", "btn", "--variations", "a,b", "--json", body)
    assert rejected(runner, redis, *args) == message


def test_create_conflicts_as_the_api_does(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("one", namespace={"id": "ns", "range": [0, 0.5]})
    for key, args in [("one", []), ("two", ["--namespace", "ns:0.4:1"])]:
        command = ["experiments", "create", key, "--variations", "a,b", *args]
        message = rejected(runner, redis, *command)
        body = {"key": key, "variations": ["a", "b"]}
        if args:
            body["namespace"] = {"id": "ns", "range": [0.4, 1]}
        api = admin.post("/experiments", json=body)
        assert (api.status_code, message) == (409, api.json["message"])


def test_patch_a_running_experiment(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    printed = json.loads(
        ok(runner, "experiments", "patch", "exp", "--weights", "0.2,0.8").stdout
    )
    stored = admin.get("/experiments/exp").json
    assert stored["weights"] == printed["weights"] == [0.2, 0.8]
    locked = rejected(runner, redis, "experiments", "patch", "exp", "--seed", "new")
    assert locked == "seed cannot change once the experiment has started"
    ok(runner, "experiments", "patch", "exp", "--max-participants", "null")
    assert admin.get("/experiments/exp").json["max_participants"] is None


def test_patch_needs_a_change(runner: FlaskCliRunner, admin: Admin) -> None:
    admin.experiment("exp")
    result = runner.invoke(args=["experiments", "patch", "exp"])
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


def test_lifecycle(runner: FlaskCliRunner, admin: Admin) -> None:
    admin.experiment("exp", start=False)
    steps = [
        (["start", "exp"], "experiment 'exp' is running", "running"),
        (["stop", "exp"], "experiment 'exp' is stopped", "stopped"),
        (["start", "exp"], "experiment 'exp' is running", "running"),
        (
            ["complete", "exp", "--winner", "treatment"],
            "experiment 'exp' is completed; everyone gets 'treatment'",
            "completed",
        ),
    ]
    for args, line, status in steps:
        assert ok(runner, "experiments", *args).stdout == line + "\n"
        assert admin.get("/experiments/exp").json["status"] == status
    assert admin.get("/experiments/exp").json["winner"] == "treatment"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stop", "exp"], "cannot stop an experiment that is draft"),
        (
            ["complete", "exp", "--winner", "control"],
            "cannot complete an experiment that is draft",
        ),
    ],
    ids=["stop-a-draft", "complete-a-draft"],
)
def test_illegal_transition_fails(
    runner: FlaskCliRunner,
    admin: Admin,
    redis: redis_py.Redis,
    args: list[str],
    message: str,
) -> None:
    admin.experiment("exp", start=False)
    assert rejected(runner, redis, "experiments", *args) == message


def test_complete_needs_a_known_winner(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    args = ("experiments", "complete", "exp", "--winner", "nobody")
    message = rejected(runner, redis, *args)
    api = admin.post("/experiments/exp/complete", json={"winner": "nobody"})
    assert message == api.json["message"] == "winner: must be one of control, treatment"
    assert runner.invoke(args=["experiments", "complete", "exp"]).exit_code == 2


def test_delete_with_yes_removes_all_data(
    runner: FlaskCliRunner, admin: Admin, client: FlaskClient, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    enroll(client, "u1")
    result = ok(runner, "experiments", "delete", "exp", "--yes")
    assert result.stdout == "deleted experiment 'exp'\n"
    assert redis.keys("*") == []


def test_delete_asks_first(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    before = snapshot(redis)
    declined = runner.invoke(args=["experiments", "delete", "exp"], input="n\n")
    assert declined.exit_code == 1
    assert "Delete experiment 'exp' and all its data?" in declined.output
    assert snapshot(redis) == before
    ok(runner, "experiments", "delete", "exp", input="y\n")
    assert redis.keys("*") == []


@pytest.mark.parametrize(
    "args",
    [
        ["show", "nope"],
        ["counts", "nope"],
        ["patch", "nope", "--coverage", "0.5"],
        ["start", "nope"],
        ["stop", "nope"],
        ["complete", "nope", "--winner", "a"],
        ["delete", "nope", "--yes"],
        ["delete", "nope"],
    ],
    ids=lambda args: "-".join(args[:1] + args[2:3]),
)
def test_unknown_experiment_fails(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis, args: list[str]
) -> None:
    admin.experiment("exp")
    message = rejected(runner, redis, "experiments", *args)
    assert message == "experiment 'nope' does not exist"


def test_bad_key_fails_as_the_api_does(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    message = rejected(runner, redis, "experiments", "show", "no/such")
    assert message == "key: must be 1-64 characters of A-Z a-z 0-9 _ . -"


@pytest.mark.parametrize(
    "args",
    [
        ["experiments", "create"],
        ["experiments", "create", "btn", "--namespace", "ns-0-1"],
        ["experiments", "create", "btn", "--json", "@/no/such/file"],
        ["experiments", "frobnicate"],
        ["flags", "create", "f", "--enabled", "yes"],
        ["experiments", "create", "btn", "--variations", "a,b", "--metrics", "[x"],
        ["experiments", "create", "btn", "--variations", "a,b", "--analysis", "[]"],
        ["experiments", "create", "btn", "--variations", "a,b", "--analysis", "a=1"],
    ],
    ids=[
        "no-key",
        "bad-namespace",
        "unreadable-body",
        "no-such-command",
        "extra-arg",
        "metrics-bad-json",
        "analysis-not-object",
        "analysis-not-json",
    ],
)
def test_usage_errors_exit_2(
    runner: FlaskCliRunner, redis: redis_py.Redis, args: list[str]
) -> None:
    before = snapshot(redis)
    assert runner.invoke(args=args).exit_code == 2
    assert snapshot(redis) == before


def test_unreachable_redis_fails(redis_server: LocalRedis, tmp_path: Path) -> None:
    app = make_app(f"unix://{tmp_path / 'none.sock'}", ABFLASK_REDIS_TIMEOUT=0.1)
    result = app.test_cli_runner().invoke(args=["experiments", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")


# -- feature flags ------------------------------------------------------------


def test_flags_list(runner: FlaskCliRunner, admin: Admin) -> None:
    assert ok(runner, "flags", "list").stdout == "no flags\n"
    admin.post("/flags", json={"key": "nav", "enabled": True, "rollout": 0.25})
    admin.post("/flags", json={"key": "old", "description": "the old page"})
    assert ok(runner, "flags", "list").stdout.splitlines() == [
        "KEY  ENABLED  ROLLOUT  RULES  REQUIRES  DESCRIPTION",
        "nav  on       25%      0      -",
        "old  off      100%     0      -         the old page",
    ]
    printed = json.loads(ok(runner, "flags", "list", "--json").stdout)
    assert printed == admin.get("/flags").json


def test_flags_create_show_update_delete(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    args = ("--enabled", "--rollout", "0.5", "--seed", "s", "--description", "d")
    created = json.loads(ok(runner, "flags", "create", "nav", *args).stdout)
    assert admin.get("/flags/nav/definition").json == created
    assert (created["enabled"], created["rollout"], created["seed"]) == (True, 0.5, "s")
    shown = json.loads(ok(runner, "flags", "show", "nav").stdout)
    assert shown == created
    ok(runner, "flags", "update", "nav", "--disabled", "--json", '{"rollout": 1}')
    updated = admin.get("/flags/nav/definition").json
    assert (updated["enabled"], updated["rollout"], updated["seed"]) == (False, 1, "s")
    assert (
        ok(runner, "flags", "delete", "nav", "--yes").stdout == "deleted flag 'nav'\n"
    )
    assert redis.keys("*") == []


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (["--rollout", "2"], {"rollout": 2}),
        (["--rollout", "most"], {"rollout": "most"}),
        (["--json", '{"enabled": "yes"}'], {"enabled": "yes"}),
    ],
    ids=["rollout-range", "rollout-word", "enabled-word"],
)
def test_flags_reject_as_the_api_does(
    runner: FlaskCliRunner,
    admin: Admin,
    redis: redis_py.Redis,
    args: list[str],
    body: dict[str, Any],
) -> None:
    message = rejected(runner, redis, "flags", "create", "nav", *args)
    api = admin.post("/flags", json={"key": "nav"} | body)
    assert api.status_code == 400
    assert message == api.json["message"]


@pytest.mark.parametrize(
    "args", [["show", "nope"], ["update", "nope", "--enabled"], ["delete", "nope"]]
)
def test_unknown_flag_fails(
    runner: FlaskCliRunner, redis: redis_py.Redis, args: list[str]
) -> None:
    assert rejected(runner, redis, "flags", *args) == "flag 'nope' does not exist"


def test_flag_delete_asks_first(
    runner: FlaskCliRunner, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.post("/flags", json={"key": "nav"})
    before = snapshot(redis)
    assert runner.invoke(args=["flags", "delete", "nav"], input="n\n").exit_code == 1
    assert snapshot(redis) == before


# -- analyze, the console script and make run's Redis -------------------------


@pytest.mark.slow
def test_analyze_runs_the_job_on_the_apps_redis(
    redis_server: LocalRedis,
    admin: Admin,
    client: FlaskClient,
    tmp_path: Path,
) -> None:
    admin.experiment("exp", metrics=["buy"])
    got = enroll(client, *(f"u{i}" for i in range(40)))
    for user, variation in got.items():
        if variation == "treatment" or user.endswith("0"):
            client.post("/track", json={"user_id": user, "event": "buy", "value": 2})
    app = make_app(redis_server.url, ABFLASK_DATA_DIR=str(tmp_path))
    args = ["analyze", "--experiment", "exp", "--format", "json"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.stdout)["experiments"]
    assert found["participants"] == {
        v: list(got.values()).count(v) for v in ("control", "treatment")
    }
    assert found["metrics"][0]["event"] == "buy"
    served = admin.get("/experiments/exp/results")
    assert served.status_code == 200
    assert served.json["participants"] == found["participants"]
    assert (tmp_path / "analysis" / PREFIX / "exp.npz").exists()


@pytest.mark.slow
def test_analyze_usage_error_exits_2(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["analyze", "--no-such-option"])
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.slow
def test_console_script(redis_server: LocalRedis, admin: Admin, tmp_path: Path) -> None:
    admin.experiment("exp")
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "ABFLASK_KEY_PREFIX": PREFIX,
    }
    script = Path(sys.executable).parent / "abflask"

    def abflask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    listed = abflask("experiments", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == admin.get("/experiments").json
    bad = abflask("experiments", "start", "exp")
    assert (bad.returncode, bad.stderr) == (
        1,
        "Error: cannot start an experiment that is running\n",
    )


def test_app_from_the_environment_finds_make_runs_redis(
    redis_server: LocalRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What lets ``abflask`` and ``flask --app wsgi`` reach ``make run``'s data
    (end to end in ``tests/test_run.py``)."""
    localredis.record_url(tmp_path, redis_server.url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ABFLASK_DATA_DIR", str(tmp_path))
    assert create_app().config["REDIS_URL"] == redis_server.url
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert create_app().config["REDIS_URL"] == "redis://127.0.0.1:1/0"
