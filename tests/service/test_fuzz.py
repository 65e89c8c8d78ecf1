"""A seeded, bounded fuzz of every endpoint: no 5xx, every answer JSON.

Hypothesis generates query strings, headers and bodies (JSON shaped like the
API's own fields, numbers beyond float range, deep nesting, raw bytes) for
each rule of the app's ``url_map``, through the Flask test client against the
real test Redis. A 4xx answer must also leave Redis untouched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from abflask.storage import localredis
from tests.helpers import ADMIN_TOKEN, SDK_KEY, make_app, snapshot

EXAMPLES = {"POST": 150, "PATCH": 150}
"""Examples per endpoint with a body (by method); 25 for the others."""
FIELDS = sorted(
    {"user_id", "experiment", "event", "value", "properties", "event_id"}
    | {"timestamp", "events", "exposures", "key", "name", "variations", "weights"}
    | {"coverage", "seed", "hash_version", "max_participants", "metrics"}
    | {"namespace", "id", "range", "winner", "enabled", "rollout", "description"}
    | {"analysis", "type", "role", "direction", "margin", "cap", "cap_percentile"}
    | {"window", "alpha", "power", "mde", "planned_users", "mode", "correction"}
    | {"min_sample"}
)
"""Every field name the API reads, so generated bodies reach deep validation."""
KEYS = ["exp", "nav", "default", "nope", "a" * 65, "ü", "."]

ROUTES = sorted(
    (rule.rule, method)
    for rule in make_app("redis://127.0.0.1:1/0").url_map.iter_rules()
    if not rule.endpoint.startswith("dashboard.")
    for method in sorted(rule.methods or ())
)
"""Every (rule, method) of the JSON API; building the app opens no connection.

The dashboard's pages answer HTML and its POSTs need a session's CSRF token
(tests/service/dashboard covers them)."""

HOSTILE_NUMBERS = st.sampled_from(
    [10**400, -(10**400), 2**64, 1.7e12, 1_700_000_000_000, 1e308, -0.0, 0.5, 1]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | HOSTILE_NUMBERS
    | st.text(max_size=12)
    | st.sampled_from(["control", "treatment", "a", "b", "exp", "buy", "u1", ""])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=5
        )
    ),
    max_leaves=16,
)
objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


NOW = int(time.time())
VALID: dict[str, st.SearchStrategy[Any]] = {
    "user_id": st.sampled_from(["u1", "u2", 42]),
    "experiment": st.sampled_from(["exp", "default"]),
    "event": st.sampled_from(["buy", "view"]),
    "value": st.floats(-1e3, 1e3),
    "properties": st.dictionaries(st.text(min_size=1, max_size=4), scalars, max_size=3),
    "event_id": st.text(min_size=1, max_size=5),
    "timestamp": st.integers(NOW - 1000, NOW),
    "key": st.sampled_from(["k1", "k2", "exp", "nav"]),
    "name": st.text(max_size=5),
    "variations": st.sampled_from([["control", "treatment"], ["a", "b", "c"]]),
    "weights": st.just([0.5, 0.5]) | st.lists(st.floats(0, 1), min_size=2, max_size=3),
    "coverage": st.floats(0, 1),
    "seed": st.text(min_size=1, max_size=4),
    "hash_version": st.sampled_from([1, 2]),
    "max_participants": st.none() | st.integers(1, 100),
    "metrics": st.sampled_from(
        [
            ["buy"],
            ["buy", "view"],
            [{"event": "buy", "type": "value", "cap_percentile": 0.9}],
            ["buy", {"event": "refund", "role": "guardrail", "margin": 0.01}],
        ]
    ),
    "analysis": st.fixed_dictionaries(
        {},
        optional={
            "alpha": st.floats(0, 0.3),
            "planned_users": st.integers(0, 10**11),
            "mode": st.sampled_from(["sequential", "fixed", "x"]),
        },
    ),
    "namespace": st.fixed_dictionaries(
        {
            "id": st.just("ns"),
            "range": st.lists(
                st.floats(0, 1) | HOSTILE_NUMBERS, min_size=2, max_size=2
            ),
        }
    ),
    "winner": st.sampled_from(["control", "treatment", "c"]),
    "enabled": st.booleans(),
    "rollout": st.floats(0, 1),
    "description": st.text(max_size=5),
}


HOSTILE = st.one_of(
    HOSTILE_NUMBERS,
    HOSTILE_NUMBERS,
    st.sampled_from(["", "x" * 300, "a\x00b", "$exposure", "\ud800", "1e400"]),
    json_values,
)
"""What replaces one field of an otherwise plausible body."""


def shaped(required: set[str], optional: set[str]) -> st.SearchStrategy[Any]:
    """An object with the ``required`` and some ``optional`` fields, plausible
    values, then up to two fields (or an unknown one) replaced by ``HOSTILE``."""
    names = sorted(required | optional)

    @st.composite
    def build(draw: Callable[[Any], Any]) -> dict[str, Any]:
        body: dict[str, Any] = draw(
            st.fixed_dictionaries(
                {name: VALID[name] for name in sorted(required)},
                optional={name: VALID[name] for name in sorted(optional)},
            )
        )
        for _ in range(draw(st.integers(0, 2))):
            body[draw(st.sampled_from([*names, "typo"]))] = draw(HOSTILE)
        return body

    return build()


EVENT = shaped({"user_id", "event"}, {"value", "properties", "event_id", "timestamp"})
EXPERIMENT = {
    "name",
    "weights",
    "coverage",
    "max_participants",
    "metrics",
    "namespace",
    "analysis",
}
FLAG = {"enabled", "rollout", "seed", "description"}
SHAPES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("/process_user", "POST"): shaped({"user_id"}, {"experiment"}),
    ("/track", "POST"): EVENT,
    ("/track/batch", "POST"): st.fixed_dictionaries(
        {"events": st.lists(EVENT, min_size=1, max_size=3)}
    ),
    ("/experiments", "POST"): shaped(
        {"key", "variations"}, EXPERIMENT | {"seed", "hash_version"}
    ),
    ("/experiments/<key>", "PATCH"): shaped(set(), EXPERIMENT | {"variations"}),
    ("/experiments/<key>/complete", "POST"): shaped({"winner"}, set()),
    ("/experiments/<key>/phases", "POST"): shaped(set(), {"weights"}),
    ("/flags", "POST"): shaped({"key"}, FLAG),
    ("/flags/<key>", "PATCH"): shaped(set(), FLAG),
    ("/sdk/exposures", "POST"): st.fixed_dictionaries(
        {
            "exposures": st.lists(
                shaped({"user_id", "experiment"}, set()), min_size=1, max_size=3
            )
        }
    ),
}
"""Bodies shaped like each endpoint's own, so one bad field reaches validation."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def bodies(rule: str, method: str) -> st.SearchStrategy[bytes]:
    """Bodies for one endpoint: mostly its own shape, also anything at all."""
    own = SHAPES.get((rule, method), objects).map(_dumps)
    depth = st.sampled_from([2, 100, 900, 1000, 3000])
    return st.one_of(
        own,
        own,
        own,
        own,
        objects.map(_dumps),
        json_values.map(_dumps),
        depth.map(lambda n: ("[" * n + "]" * n).encode()),
        depth.map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
        st.binary(max_size=40),
        st.just(b""),
    )


queries = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.sampled_from(["u1", "u2", ""]) | st.text(max_size=12),
        "experiment": st.sampled_from(["exp", "default", ""]) | st.text(max_size=8),
    },
) | st.dictionaries(
    st.sampled_from(["user_id", "experiment", "experimnt"]) | st.text(max_size=5),
    st.text(max_size=12) | st.integers().map(str) | st.just(""),
    max_size=3,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from(
            [f"Bearer {ADMIN_TOKEN}"] * 4 + ["Bearer x", ""]
        ),
        "X-SDK-Key": st.sampled_from([SDK_KEY, "wrong"]),
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "multipart/form-data; boundary=x",
                "text/plain; charset=utf-16",
            ]
        ),
        "If-None-Match": st.text(st.characters(min_codepoint=32, max_codepoint=126)),
    },
)
keys = st.sampled_from(KEYS) | st.just("exp") | st.text(min_size=1, max_size=8)


@pytest.fixture
def app(redis_server: localredis.LocalRedis, redis: redis_py.Redis) -> Flask:
    """The app as production runs it: an unhandled error is a 500 answer."""
    return make_app(redis_server.url, PROPAGATE_EXCEPTIONS=False)


@pytest.fixture
def seeded(client: FlaskClient) -> FlaskClient:
    """A running experiment ``exp`` with ``u1`` enrolled, and a flag ``nav``."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"key": "exp", "variations": ["control", "treatment"], "metrics": ["buy"]}
    assert client.post("/experiments", json=body, headers=admin).status_code == 201
    assert client.post("/experiments/exp/start", headers=admin).status_code == 200
    flag = {"key": "nav", "enabled": True, "rollout": 0.5}
    assert client.post("/flags", json=flag, headers=admin).status_code == 201
    assert client.get("/process_user?user_id=u1&experiment=exp").status_code == 200
    return client


def send(
    client: FlaskClient,
    rule: str,
    method: str,
    draw: Callable[[Any], Any],
) -> TestResponse:
    """One generated request to ``rule`` with ``method``."""
    path = rule.replace("<key>", quote(draw(keys), safe="")).replace(
        "<filename>", quote(draw(st.text(min_size=1, max_size=8)), safe="")
    )
    query = urlencode(draw(queries))
    body = (
        draw(bodies(rule, method))
        if method in ("POST", "PATCH", "PUT", "DELETE")
        else b""
    )
    return client.open(
        f"{path}?{query}" if query else path,
        method=method,
        data=body,
        headers=draw(headers),
    )


def check(response: TestResponse, method: str) -> None:
    """No 5xx; a JSON body wherever a body is allowed."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if method != "HEAD" and response.status_code != 304:
        assert response.mimetype == "application/json", response.status
        json.loads(response.get_data())


@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_fuzz_endpoint(
    seeded: FlaskClient, redis: redis_py.Redis, rule: str, method: str
) -> None:
    @settings(
        max_examples=EXAMPLES.get(method, 25),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
        ],
    )
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        before = snapshot(redis)
        response = send(seeded, rule, method, data.draw)
        check(response, method)
        if 400 <= response.status_code < 500:
            assert snapshot(redis) == before, f"{response.status} wrote to Redis"

    fuzz()


def test_every_route_is_fuzzed() -> None:
    """The list comes from the url_map itself: a new endpoint is fuzzed too."""
    assert ("/track", "POST") in ROUTES and ("/flags/<key>", "GET") in ROUTES
    assert len({rule for rule, _ in ROUTES}) >= 15
