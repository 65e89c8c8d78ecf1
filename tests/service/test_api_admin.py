"""The admin API: experiments, flags, auth, errors and probes."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis as redis_py
from flask.testing import FlaskClient

from tests.helpers import ADMIN_TOKEN, Admin, make_app, snapshot


def test_create_returns_draft_with_location(admin: Admin) -> None:
    response = admin.post("/experiments", json={"key": "btn", "variations": ["A", "B"]})
    assert response.status_code == 201
    assert response.headers["Location"] == "/experiments/btn"
    body = response.json
    assert (body["status"], body["seed"], body["hash_version"]) == ("draft", "btn", 2)
    assert body["created_at"] is not None


def test_list_and_get(admin: Admin) -> None:
    admin.experiment("one", start=False)
    admin.experiment("two", metrics=["buy", "view"])
    listed = admin.get("/experiments").json["experiments"]
    assert sorted(e["key"] for e in listed) == ["one", "two"]
    two = admin.get("/experiments/two").json
    assert [(m["event"], m["role"]) for m in two["metrics"]] == [
        ("buy", "primary"),
        ("view", "secondary"),
    ]
    assert two["counts"]["participants"] == 0


def test_duplicate_key_is_409(admin: Admin) -> None:
    admin.experiment("one", start=False)
    again = admin.post("/experiments", json={"key": "one", "variations": ["a", "b"]})
    assert again.status_code == 409
    assert again.json["error"] == "conflict"


def test_lifecycle(admin: Admin) -> None:
    admin.experiment("exp", start=False)
    assert admin.post("/experiments/exp/start").json["status"] == "running"
    assert admin.post("/experiments/exp/stop").json["status"] == "stopped"
    assert admin.post("/experiments/exp/start").json["status"] == "running"
    done = admin.post("/experiments/exp/complete", json={"winner": "treatment"})
    assert (done.json["status"], done.json["winner"]) == ("completed", "treatment")
    again = admin.post("/experiments/exp/start")
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [({"winner": "nobody"}, 400), ({}, 400), ({"winner": 1}, 400)],
    ids=["unknown", "missing", "not-a-name"],
)
def test_complete_needs_a_known_winner(admin: Admin, body: object, status: int) -> None:
    admin.experiment("exp")
    response = admin.post("/experiments/exp/complete", json=body)
    assert response.status_code == status
    assert response.json["field"] == "winner"


def test_variations_locked_once_started(admin: Admin) -> None:
    admin.experiment("exp", start=False)
    draft = admin.patch("/experiments/exp", json={"variations": ["a", "b", "c"]})
    assert draft.status_code == 200
    admin.post("/experiments/exp/start")
    locked = admin.patch("/experiments/exp", json={"variations": ["a", "b"]})
    assert locked.status_code == 409
    assert "variations" in locked.json["message"]
    cap = admin.patch("/experiments/exp", json={"max_participants": 10})
    assert cap.json["max_participants"] == 10


def test_delete_removes_data(
    admin: Admin, client: FlaskClient, redis: redis_py.Redis
) -> None:
    admin.experiment("exp")
    client.get("/process_user?user_id=u1&experiment=exp")
    client.post("/track", json={"user_id": "u1", "event": "buy", "event_id": "x"})
    assert admin.delete("/experiments/exp").status_code == 200
    assert redis.keys("*") == []
    assert admin.get("/experiments/exp").status_code == 404
    assert admin.delete("/experiments/exp").status_code == 404


def test_overlapping_namespaces_conflict(admin: Admin) -> None:
    admin.experiment("one", namespace={"id": "ns", "range": [0, 0.5]})
    admin.experiment("two", namespace=["ns", 0.5, 1.0])
    clash = admin.post(
        "/experiments",
        json={"key": "three", "variations": ["a", "b"], "namespace": ["ns", 0.4, 0.6]},
    )
    assert clash.status_code == 409
    assert "one" in clash.json["message"]


def race_admin(url: str, requests: list[tuple[str, str, Any]]) -> list[int]:
    """Send every (method, path, body) admin request at once; their statuses."""
    barrier = threading.Barrier(len(requests))

    def send(request: tuple[str, str, Any]) -> int:
        method, path, body = request
        sent = urllib.request.Request(
            url + path,
            json.dumps(body).encode(),
            {
                "Authorization": f"Bearer {ADMIN_TOKEN}",
                "Content-Type": "application/json",
            },
            method=method,
        )
        barrier.wait()
        try:
            with urllib.request.urlopen(sent, timeout=30) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as answer:
            return int(answer.code)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def test_concurrent_overlapping_creates_exactly_one_wins(
    live_server: str, redis: redis_py.Redis
) -> None:
    """The overlap check was a read, then a write: 20 racing creates, up to 20 won."""
    for trial in range(3):
        body = {"variations": ["a", "b"], "namespace": [f"ns{trial}", 0.0, 0.6]}
        statuses = race_admin(
            live_server,
            [("POST", "/experiments", {**body, "key": f"e{i}"}) for i in range(20)],
        )
        assert sorted(statuses) == [201] + [409] * 19
    assert redis.scard("t:exps") == 3


def test_concurrent_overlapping_patches_exactly_one_wins(
    admin: Admin, live_server: str
) -> None:
    for i in range(10):
        admin.experiment(f"e{i}", start=False, namespace=["ns", i / 10, (i + 1) / 10])
    statuses = race_admin(
        live_server,
        [
            ("PATCH", f"/experiments/e{i}", {"namespace": ["ns", 0.0, 1.0]})
            for i in range(10)
        ],
    )
    assert sorted(statuses) == [409] * 10  # each overlaps the others' old ranges
    admin.delete("/experiments/e0")
    admin.delete("/experiments/e1")
    statuses = race_admin(
        live_server,
        [
            ("PATCH", f"/experiments/{key}", {"namespace": ["ns", 0.0, 0.2]})
            for key in ("e2", "e3")
        ]
        + [
            (
                "POST",
                "/experiments",
                {
                    "key": "new",
                    "variations": ["a", "b"],
                    "namespace": ["ns", 0.1, 0.15],
                },
            )
        ],
    )
    won = [s for s in statuses if s != 409]  # all three overlap: one may win
    assert len(won) == 1 and won[0] in (200, 201)


def test_flags(admin: Admin, client: FlaskClient) -> None:
    created = admin.post("/flags", json={"key": "nav", "enabled": True, "rollout": 1})
    assert created.status_code == 201
    assert client.get("/flags/nav?user_id=u1").json == {
        "flag": "nav",
        "user_id": "u1",
        "on": True,
        "value": True,
        "reason": "flag_on",
    }
    admin.patch("/flags/nav", json={"rollout": 0})
    assert client.get("/flags/nav?user_id=u1").json["on"] is False
    assert admin.get("/flags/nav/definition").json["rollout"] == 0
    assert [f["key"] for f in admin.get("/flags").json["flags"]] == ["nav"]
    assert admin.delete("/flags/nav").status_code == 200
    assert client.get("/flags/nav?user_id=u1").status_code == 404


def test_flag_rollout_is_deterministic_per_user(
    admin: Admin, client: FlaskClient
) -> None:
    admin.post("/flags", json={"key": "half", "enabled": True, "rollout": 0.5})
    first = [client.get(f"/flags/half?user_id=u{i}").json["on"] for i in range(200)]
    again = [client.get(f"/flags/half?user_id=u{i}").json["on"] for i in range(200)]
    assert first == again
    assert 60 < sum(first) < 140


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "basic", "empty"],
)
def test_admin_needs_the_token(
    client: FlaskClient, redis: redis_py.Redis, headers: dict[str, str]
) -> None:
    body = {"key": "exp", "variations": ["a", "b"]}
    response = client.post("/experiments", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert client.get("/experiments", headers=headers).status_code == 401
    assert client.get("/flags/nav/definition", headers=headers).status_code == 401
    assert redis.keys("*") == []


def test_admin_disabled_without_token(
    redis_server: object, redis: redis_py.Redis
) -> None:
    app = make_app(redis_server.url, ABFLASK_ADMIN_TOKEN=None)  # type: ignore[attr-defined]
    response = app.test_client().get(
        "/experiments", headers={"Authorization": "Bearer anything-at-all"}
    )
    assert response.status_code == 403
    assert "ABFLASK_ADMIN_TOKEN" in response.json["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"key": "a b", "variations": ["a", "b"]},
        {"key": "k", "variations": ["a"]},
        {"key": "k", "variations": ["a", "a"]},
        {"key": "k", "variations": ["a", "b"], "weights": [0.9, 0.9]},
    ],
    ids=["bad-key", "one-variation", "duplicate-variations", "bad-weights"],
)
def test_bad_experiment_is_400_and_writes_nothing(
    admin: Admin, redis: redis_py.Redis, body: object
) -> None:
    before = snapshot(redis)
    response = admin.post("/experiments", json=body)
    assert response.status_code == 400
    assert response.json["error"] == "invalid"
    assert snapshot(redis) == before


def test_unknown_route_and_method_are_json(client: FlaskClient) -> None:
    missing = client.get("/nope")
    wrong = client.delete("/track")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json["error"]) == (405, "method_not_allowed")
    assert sorted(wrong.headers["Allow"].split(", ")) == ["OPTIONS", "POST"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/track", ["OPTIONS", "POST"]),
        ("/experiments", ["GET", "HEAD", "OPTIONS", "POST"]),
        ("/flags/nav", ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH"]),
    ],
)
def test_options_answers_json_with_allow(
    client: FlaskClient, path: str, allowed: list[str]
) -> None:
    response = client.options(path)
    assert (response.status_code, response.mimetype) == (200, "application/json")
    assert response.json == {"allow": allowed}
    assert response.headers["Allow"] == ", ".join(allowed)


def test_slash_redirect_is_relative_json(client: FlaskClient) -> None:
    response = client.get("/experiments//exp?x=1", headers={"Host": "evil.example"})
    assert (response.status_code, response.mimetype) == (308, "application/json")
    assert response.headers["Location"] == "/experiments/exp?x=1"
    assert "evil" not in response.get_data(as_text=True)


def test_flag_definition_is_admin_only_and_the_check_needs_a_user(
    admin: Admin, client: FlaskClient, redis: redis_py.Redis
) -> None:
    admin.post("/flags", json={"key": "nav", "enabled": True})
    before = snapshot(redis)
    missing = client.get("/flags/nav")
    assert (missing.status_code, missing.json["field"]) == (400, "user_id")
    assert "GET /flags/nav/definition" in missing.json["message"]
    typo = client.get("/flags/nav?userid=u1")
    assert (typo.status_code, typo.json["field"]) == (400, "userid")
    assert client.get("/flags/nav/definition").status_code == 401
    assert admin.get("/flags/nav/definition").json["enabled"] is True
    assert admin.get("/flags/nope/definition").status_code == 404
    assert snapshot(redis) == before


def test_probes(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}
