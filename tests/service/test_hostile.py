"""Hostile and mistaken input: each case answers 4xx JSON naming the problem and
writes nothing (the whole Redis keyspace is compared before and after).

The app runs with ``PROPAGATE_EXCEPTIONS`` off, as in production, so an
unhandled error shows up as the 500 a client would get, not as a test error.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from abflask.storage import localredis
from tests.helpers import ADMIN_TOKEN, SDK_KEY, free_port, make_app, snapshot

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SDK = {"X-SDK-Key": SDK_KEY}
HUGE = "1" + "0" * 400
"""An integer literal beyond float range (``float(10**400)`` overflows)."""
DEEP = "[" * 1000 + "]" * 1000
"""JSON nested 1,000 levels: 2 KB that makes ``json.loads`` recurse too deep."""
EXPERIMENT = '{"key": "x", "variations": ["a", "b"], %s}'


def big(template: str) -> str:
    """``template`` with ``BIG`` replaced by the integer beyond float range."""
    return template.replace("BIG", HUGE)


@pytest.fixture
def app(redis_server: localredis.LocalRedis, redis: redis_py.Redis) -> Flask:
    """The app as production runs it: an unhandled error is a 500 answer."""
    return make_app(redis_server.url, PROPAGATE_EXCEPTIONS=False)


@pytest.fixture
def seeded(client: FlaskClient, redis: redis_py.Redis) -> Iterator[None]:
    """A running experiment ``exp`` with user ``u`` enrolled, and flag ``nav``.

    Yields, then checks that the test wrote nothing at all.
    """
    body = {"key": "exp", "variations": ["a", "b"], "metrics": ["buy"]}
    assert client.post("/experiments", json=body, headers=ADMIN).status_code == 201
    assert client.post("/experiments/exp/start", headers=ADMIN).status_code == 200
    assert client.post("/flags", json={"key": "nav"}, headers=ADMIN).status_code == 201
    assert client.get("/process_user?user_id=u&experiment=exp").status_code == 200
    before = snapshot(redis)
    yield
    assert snapshot(redis) == before


def rejected(response: Any, status: int = 400, field: str | None = None) -> Any:
    """Assert a JSON 4xx answer (naming ``field`` when given); return its body."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) >= {"error", "message"}
    if field is not None:
        assert body["field"] == field
    return body


# -- numbers beyond float range ----------------------------------------------

BEYOND_FLOAT = [
    ("/track", big('{"user_id": "u", "event": "buy", "value": BIG}'), "value"),
    ("/track", big('{"user_id": "u", "event": "buy", "value": -BIG}'), "value"),
    ("/track", big('{"user_id": "u", "event": "buy", "timestamp": BIG}'), "timestamp"),
    (
        "/track",
        big('{"user_id": "u", "event": "buy", "properties": {"p": BIG}}'),
        "properties.p",
    ),
    (
        "/track/batch",
        big('{"events": [{"user_id": "u", "event": "buy", "value": BIG}]}'),
        "events[0].value",
    ),
    ("/experiments", EXPERIMENT % (big('"coverage": BIG')), "coverage"),
    ("/experiments", EXPERIMENT % (big('"weights": [BIG, 0]')), "weights[0]"),
    (
        "/experiments",
        EXPERIMENT % (big('"namespace": {"id": "n", "range": [0, BIG]}')),
        "namespace.range[1]",
    ),
    (
        "/experiments",
        EXPERIMENT % (big('"max_participants": BIG')),
        "max_participants",
    ),
    ("/flags", big('{"key": "f", "rollout": BIG}'), "rollout"),
    (
        "/experiments",
        EXPERIMENT % (big('"metrics": [{"event": "x", "type": "value", "cap": BIG}]')),
        "metrics[0].cap",
    ),
    ("/experiments", EXPERIMENT % (big('"analysis": {"mde": BIG}')), "analysis.mde"),
    ("/experiments/exp/phases", big('{"weights": [BIG, 0]}'), "weights[0]"),
]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    BEYOND_FLOAT,
    ids=[f"{path}:{field}" for path, _, field in BEYOND_FLOAT],
)
def test_integer_beyond_float_range_is_400_naming_the_field(
    client: FlaskClient, seeded: None, path: str, body: str, field: str
) -> None:
    rejected(client.post(path, data=body, headers=ADMIN), field=field)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/experiments/exp", big('{"coverage": BIG}'), "coverage"),
        ("/flags/nav", big('{"rollout": -BIG}'), "rollout"),
    ],
)
def test_integer_beyond_float_range_in_a_patch_is_400(
    client: FlaskClient, seeded: None, path: str, body: str, field: str
) -> None:
    rejected(client.patch(path, data=body, headers=ADMIN), field=field)


# -- deep nesting on every JSON endpoint --------------------------------------

JSON_ENDPOINTS = [
    ("POST", "/process_user"),
    ("POST", "/track"),
    ("POST", "/track/batch"),
    ("POST", "/experiments"),
    ("PATCH", "/experiments/exp"),
    ("POST", "/experiments/exp/complete"),
    ("POST", "/experiments/exp/phases"),
    ("POST", "/flags"),
    ("PATCH", "/flags/nav"),
    ("POST", "/sdk/exposures"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_deeply_nested_json_is_400(
    client: FlaskClient, seeded: None, method: str, path: str
) -> None:
    response = client.open(path, method=method, data=DEEP, headers={**ADMIN, **SDK})
    body = rejected(response, field="body")
    assert "nested too deeply" in body["message"]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_deep_but_parseable_json_is_400(
    client: FlaskClient, seeded: None, method: str, path: str
) -> None:
    deep = "[" * 500 + "]" * 500
    response = client.open(path, method=method, data=deep, headers={**ADMIN, **SDK})
    rejected(response)


# -- /process_user parameters -------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("user_id=u&experimnt=exp", "experimnt"),
        ("user_id=u&experiment=", "experiment"),
        ("user_id=u&experiment=exp&experiment=other", "experiment"),
        ("user_id=u&user_id=v", "user_id"),
        ("userid=u", "userid"),
        ("user_id=", "user_id"),
    ],
    ids=[
        "typo",
        "empty-experiment",
        "experiment-twice",
        "user-twice",
        "typo-user",
        "empty-user",
    ],
)
def test_process_user_names_a_bad_parameter(
    client: FlaskClient, seeded: None, query: str, field: str
) -> None:
    rejected(client.get(f"/process_user?{query}"), field=field)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"data": {"user_id": "u", "experimnt": "exp"}}, "experimnt"),
        ({"json": {"user_id": "u", "experimnt": "exp"}}, "experimnt"),
        ({"json": {"user_id": "u", "experiment": ""}}, "experiment"),
        ({"json": ["user_id", "u"]}, "body"),
    ],
    ids=["form-typo", "json-typo", "json-empty-experiment", "json-list"],
)
def test_process_user_post_names_a_bad_parameter(
    client: FlaskClient, seeded: None, kwargs: dict[str, Any], field: str
) -> None:
    rejected(client.post("/process_user", **kwargs), field=field)


def test_process_user_reads_json_sent_as_a_form(
    client: FlaskClient, seeded: None
) -> None:
    """``curl -d '{...}'`` labels JSON as a form: it is read as JSON."""
    response = client.post(
        "/process_user",
        data='{"user_id": "u", "experiment": "exp"}',
        content_type="application/x-www-form-urlencoded",
    )
    assert (response.status_code, response.json["reason"]) == (200, "sticky")


# -- timestamps ------------------------------------------------------------------


def test_millisecond_timestamp_says_so(client: FlaskClient, seeded: None) -> None:
    event = {"user_id": "u", "event": "buy", "timestamp": 1_700_000_000_000}
    body = rejected(client.post("/track", json=event), field="timestamp")
    assert "epoch seconds, not milliseconds" in body["message"]


# -- answers the app shapes itself --------------------------------------------


def test_options_is_json_and_405_names_the_allowed_methods(
    client: FlaskClient, seeded: None
) -> None:
    options = client.options("/process_user")
    assert (options.status_code, options.mimetype) == (200, "application/json")
    assert options.json["allow"] == ["GET", "HEAD", "OPTIONS", "POST"]
    wrong = rejected(client.put("/process_user"), 405)
    assert wrong["error"] == "method_not_allowed"
    allow = client.put("/process_user").headers["Allow"].split(", ")
    assert sorted(allow) == ["GET", "HEAD", "OPTIONS", "POST"]


def test_slash_redirect_does_not_reflect_the_host(
    client: FlaskClient, seeded: None
) -> None:
    response = client.post(
        "/experiments//exp/stop", headers={**ADMIN, "Host": "evil.example"}
    )
    assert response.status_code == 308
    assert response.mimetype == "application/json"
    assert response.headers["Location"] == "/experiments/exp/stop"
    assert "evil.example" not in str(response.headers) + response.get_data(as_text=True)


def test_flag_check_without_user_id_is_400(client: FlaskClient, seeded: None) -> None:
    rejected(client.get("/flags/nav"), field="user_id")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/track"),
        ("GET", "/readyz"),
        ("GET", "/process_user?user_id=u&experiment=e"),
    ],
)
def test_503_does_not_tell_where_redis_is(
    caplog: pytest.LogCaptureFixture, method: str, path: str
) -> None:
    port = free_port()
    app = make_app(
        f"redis://127.0.0.1:{port}/0",
        PROPAGATE_EXCEPTIONS=False,
        ABFLASK_REDIS_TIMEOUT=0.2,
    )
    event = {"user_id": "u", "event": "buy"}
    with caplog.at_level(logging.WARNING):
        response = app.test_client().open(path, method=method, json=event)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    text = response.get_data(as_text=True)
    assert str(port) not in text and "127.0.0.1" not in text
    assert response.json["error"] == "storage_unavailable"
    if path != "/readyz":  # the operator still finds the address in the log
        assert str(port) in caplog.text


# -- a chunked body over the limit, over real HTTP ----------------------------


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app over real HTTP (werkzeug's server de-chunks like gunicorn)."""
    app.config["MAX_CONTENT_LENGTH"] = 4096
    http_server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http_server.server_port}"
    http_server.shutdown()
    thread.join(5)


def post_chunked(base: str, path: str, body: bytes) -> tuple[int, Any, str]:
    """POST ``body`` with ``Transfer-Encoding: chunked``; status, JSON, type."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        chunks = (body[i : i + 1000] for i in range(0, len(body), 1000))
        conn.request("POST", path, body=chunks, encode_chunked=True)
        response = conn.getresponse()
        return (
            response.status,
            json.loads(response.read()),
            response.getheader("Content-Type", ""),
        )
    finally:
        conn.close()


def test_chunked_body_over_the_limit_is_413(server: str, seeded: None) -> None:
    event = b'{"user_id": "u", "event": "buy"}'
    padded = event + b" " * 5000  # cut at 4096 bytes it would still be valid JSON
    status, body, ctype = post_chunked(server, "/track", padded)
    assert (status, body["error"]) == (413, "request_entity_too_large")
    assert ctype.startswith("application/json")


def test_chunked_body_within_the_limit_is_accepted(
    server: str, redis: redis_py.Redis, client: FlaskClient
) -> None:
    body = {"key": "exp", "variations": ["a", "b"]}
    assert client.post("/experiments", json=body, headers=ADMIN).status_code == 201
    event = b'{"user_id": "u", "event": "buy"}' + b" " * 3000
    status, answer, _ = post_chunked(server, "/track", event)
    assert (status, answer["accepted"]) == (202, 1)
