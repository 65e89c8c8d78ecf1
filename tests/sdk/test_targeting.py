"""Targeting and flag rules in both SDK clients, from a format-2 snapshot.

A small HTTP server plays the service's two SDK endpoints (a snapshot made
by ``core.wire.encode``; ``/sdk/exposures`` answers chosen by each test), so
each test controls exactly what the service says; the SDK talks to it over
real HTTP with its own transports. The agreement with the real service is
``test_targeting_agreement.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from abflask.core import wire
from abflask.core.experiment import Experiment
from abflask.core.flag import parse_flag
from abflask.core.segment import Segment
from abflask.sdk import AsyncClient, Client, Decision, Reason, User
from abflask.sdk.snapshot import Snapshot, reads_id
from tests.helpers import SDK_KEY

NOW = 1_700_000_000.0
SEGMENTS = {
    "eu": Segment(key="eu", condition={"country": {"$in": ["DE", "FR", "IT"]}}),
    "beta": Segment(key="beta", values=("vip-1", "vip-2", "u-3")),
}
EXPERIMENTS = {
    e.key: e
    for e in (
        Experiment(
            key="checkout",
            variations=("control", "green", "blue"),
            status="running",
            condition={"plan": "pro", "version": {"$vgte": "2.1.0"}},
            segments=("eu",),
        ),
        Experiment(
            key="vip",
            variations=("off", "on"),
            status="running",
            coverage=0.8,
            condition={"$or": [{"id": {"$inGroup": "beta"}}, {"age": {"$gte": 30}}]},
        ),
        Experiment(key="open", variations=("a", "b"), status="running"),
    )
}
FLAGS = {
    f.key: f
    for f in (
        parse_flag({"key": "auth", "enabled": True, "rollout": 0.7}, now=NOW),
        parse_flag(
            {"key": "theme", "enabled": True, "value": "blue", "default": "grey",
             "rollout": 0.3, "requires": ["auth"],
             "rules": [
                 {"segments": ["eu"], "condition": {"plan": "pro"}, "force": "gold"},
                 {"condition": {"id": {"$inGroup": "beta"}}, "force": None},
                 {"condition": {"age": {"$lt": 18}}, "rollout": 0.5,
                  "value": {"shade": [1, 2]}},
             ]},
            now=NOW,
        ),
        parse_flag(
            {"key": "limits", "enabled": True, "value": {"max": 10},
             "default": {"max": 1}, "rollout": 0.5,
             "rules": [{"condition": {"plan": "team"}, "force": []}]},
            now=NOW,
        ),
        parse_flag({"key": "off", "enabled": False, "value": 7, "default": 0}, now=NOW),
        parse_flag({"key": "nav", "enabled": True, "rollout": 0.5}, now=NOW),
    )
}  # fmt: skip
ALL_SEGMENTS = {s.key: s for s in SEGMENTS.values()}

Policy = Callable[[dict[str, Any]], dict[str, Any]]
"""One ``/sdk/exposures`` entry in → the service's answer for it."""


def enrolled(entry: dict[str, Any]) -> dict[str, Any]:
    """What the service answers a new user it enrolls (the hash's variation)."""
    exp = EXPERIMENTS[entry["experiment"]]
    index = exp.candidate(entry["user_id"])
    reason = "enrolled" if index >= 0 else "excluded"
    return answer(entry, exp.variations[max(index, 0)], reason)


def answer(entry: dict[str, Any], variation: str, reason: str) -> dict[str, Any]:
    return {
        "user_id": entry["user_id"],
        "experiment": entry["experiment"],
        "variation": variation,
        "in_experiment": reason in ("enrolled", "sticky"),
        "reason": reason,
        "final": True,
    }


class Service(ThreadingHTTPServer):
    """``GET /sdk/config`` and ``POST /sdk/exposures``, recording what it got."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.snapshot = json.dumps(
            wire.encode(EXPERIMENTS, FLAGS, ALL_SEGMENTS), sort_keys=True
        ).encode()
        self.policy: Policy = enrolled
        self.exposures: list[dict[str, Any]] = []
        self.posts = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Service

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send(200, self.server.snapshot, {"ETag": '"1"'})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/sdk/exposures":
            self.send(202, b'{"accepted": 0}')
            return
        with self.server.lock:
            self.server.posts += 1
            self.server.exposures.extend(body["exposures"])
            answers = [self.server.policy(e) for e in body["exposures"]]
        self.send(200, json.dumps({"assignments": answers}).encode())

    def send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {
            "Content-Type": "application/json",
            **(headers or {}),
        }.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service() -> Iterator[Service]:
    server = Service()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def sdk(service: Service) -> Iterator[Client]:
    client = Client(service.url, SDK_KEY, flush_interval=0.05)
    yield client
    client.close(timeout=5)


def random_user(rng: random.Random, i: int) -> User:
    properties: dict[str, Any] = {}
    if rng.random() < 0.9:
        properties["country"] = rng.choice(["DE", "FR", "IT", "US", "JP"])
    if rng.random() < 0.8:
        properties["plan"] = rng.choice(["free", "pro", "team"])
    if rng.random() < 0.8:
        properties["version"] = rng.choice(["1.9.9", "2.1.0", "2.10.1", "3.0.0-beta"])
    if rng.random() < 0.8:
        properties["age"] = rng.randint(10, 60)
    if rng.random() < 0.05:
        properties["id"] = "vip-1"  # never wins over the user id
    return User(rng.choice(["u-", "vip-"]) + str(i), properties)


RNG = random.Random(5)
USERS = [random_user(RNG, i) for i in range(2000)]


def expected(key: str, user: User) -> Decision:
    """What the service would answer a new user, reason in the SDK's terms."""
    exp = EXPERIMENTS[key]
    if not exp.targets(user.id, user.properties, ALL_SEGMENTS):
        return Decision(exp.variations[0], Reason.NOT_TARGETED, False)
    index = exp.candidate(user.id)
    if index < 0:
        return Decision(exp.variations[0], Reason.EXCLUDED, False)
    return Decision(exp.variations[index], Reason.ASSIGNED, True)


def expected_flag(key: str, user: User) -> Decision:
    value, reason = FLAGS[key].evaluate(user.id, user.properties, FLAGS, ALL_SEGMENTS)
    return Decision(value, reason)


# -- experiments -------------------------------------------------------------------


def test_the_snapshot_knows_which_targets_read_id() -> None:
    snapshot = Snapshot.parse(
        json.dumps(wire.encode(EXPERIMENTS, {}, ALL_SEGMENTS)).encode(), "e"
    )
    assert snapshot.id_blind == {"checkout"}
    target = snapshot.experiments["vip"].target
    assert target is not None and reads_id(target)


def test_the_snapshot_knows_which_flags_read_id() -> None:
    """A rule of "theme" reads ``id``; a flag that requires it reads it too."""
    needs_theme = parse_flag(
        {"key": "after-theme", "enabled": True, "requires": ["theme"]}, now=NOW
    )
    flags = {**FLAGS, "after-theme": needs_theme}
    snapshot = Snapshot.parse(
        json.dumps(wire.encode({}, flags, ALL_SEGMENTS)).encode(), "e"
    )
    assert snapshot.id_blind_flags == {"auth", "limits", "off", "nav"}


@pytest.mark.parametrize("key", ["checkout", "vip", "open"])
def test_decisions_follow_the_targeting_of_the_snapshot(sdk: Client, key: str) -> None:
    decided = [sdk.variation_detail(key, user) for user in USERS]
    assert decided == [expected(key, user) for user in USERS]
    reasons = {d.reason for d in decided}
    if key == "open":
        assert reasons == {Reason.ASSIGNED}
    else:
        assert {Reason.NOT_TARGETED, Reason.ASSIGNED} <= reasons


def test_a_bare_id_is_a_user_without_attributes(sdk: Client) -> None:
    assert sdk.variation_detail("checkout", "u-1").reason is Reason.NOT_TARGETED
    assert sdk.variation("checkout", "u-1") == "control"
    # "vip-2" is in the list segment "beta": the condition sees id = user id.
    assert sdk.variation_detail("vip", "vip-2") == expected("vip", User("vip-2"))
    assert expected("vip", User("vip-2")).reason is not Reason.NOT_TARGETED


def test_only_targeted_users_are_exposed_with_their_attributes(
    sdk: Client, service: Service
) -> None:
    for user in USERS[:300]:
        sdk.variation("checkout", user)
        sdk.variation("checkout", user)  # once per user
    sdk.variation("open", "bare-user")
    assert sdk.flush(timeout=5)
    targeted = [
        u
        for u in USERS[:300]
        if expected("checkout", u).reason is not Reason.NOT_TARGETED
    ]
    assert 0 < len(targeted) < 300
    assert service.exposures[:-1] == [
        {"experiment": "checkout", "user_id": u.id, "attributes": dict(u.properties)}
        for u in targeted
    ]
    assert service.exposures[-1] == {"experiment": "open", "user_id": "bare-user"}


def test_a_user_heard_stored_keeps_the_variation_whatever_the_attributes(
    sdk: Client, service: Service
) -> None:
    service.policy = lambda entry: answer(entry, "blue", "sticky")
    pro = User("u-77", {"country": "DE", "plan": "pro", "version": "2.2"})
    assert sdk.variation_detail("checkout", pro).reason is Reason.ASSIGNED
    assert sdk.flush(timeout=5)
    moved = User("u-77", {"country": "US", "plan": "free"})
    assert sdk.variation_detail("checkout", moved) == ("blue", Reason.STORED, True)
    assert sdk.variation_detail("checkout", "u-77") == ("blue", Reason.STORED, True)


def test_a_full_cap_still_tests_the_audience_first(
    sdk: Client, service: Service
) -> None:
    service.policy = lambda entry: answer(entry, "control", "full")
    pro = User("u-78", {"country": "FR", "plan": "pro", "version": "2.1.0"})
    sdk.variation("checkout", pro)
    assert sdk.flush(timeout=5)
    assert sdk.variation_detail("checkout", pro).reason is Reason.EXCLUDED
    moved = User("u-78", {"country": "US"})
    assert sdk.variation_detail("checkout", moved).reason is Reason.NOT_TARGETED


def test_not_targeted_answers_are_final_and_not_cached(
    sdk: Client, service: Service
) -> None:
    """The service (a newer definition) says not_targeted: no retry, nothing
    cached, and a later call exposes the user again."""
    service.policy = lambda entry: {
        **answer(entry, "control", "not_targeted"),
        "final": None,  # an answer without "final": the reason alone decides
    }
    pro = User("u-79", {"country": "IT", "plan": "pro", "version": "3.0.0"})
    assert sdk.variation_detail("checkout", pro) == expected("checkout", pro)
    assert sdk.flush(timeout=5)
    assert service.posts == 1
    assert sdk.variation_detail("checkout", pro) == expected("checkout", pro)
    assert sdk.flush(timeout=5)
    assert [e["user_id"] for e in service.exposures] == ["u-79", "u-79"]


def test_invalid_attributes_drop_that_exposure_only(
    sdk: Client, service: Service
) -> None:
    too_deep = {"plan": "pro", "country": "DE", "version": "2.1.0",
                "x": {"a": {"b": {"c": {"d": 1}}}}}  # fmt: skip
    sdk.variation("checkout", User("deep", too_deep))
    sdk.variation("open", User("fine", {"plan": "pro"}))
    assert sdk.flush(timeout=5)
    assert [e["user_id"] for e in service.exposures] == ["fine"]
    assert sdk.dropped == 1


# -- flags -------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(FLAGS))
def test_flags_serve_what_core_evaluates(sdk: Client, key: str) -> None:
    details = [sdk.get_feature_value_detail(key, user) for user in USERS]
    assert details == [expected_flag(key, user) for user in USERS]
    assert [sdk.is_feature_on(key, user) for user in USERS] == [
        bool(d.value) for d in details
    ]
    assert [sdk.is_feature_on_detail(key, user) for user in USERS] == [
        Decision(bool(d.value), d.reason) for d in details
    ]


def test_flag_rules_prerequisites_and_json_values(sdk: Client) -> None:
    reasons = {sdk.get_feature_value_detail("theme", u).reason for u in USERS}
    assert reasons == {
        Reason.RULE,
        Reason.FLAG_ON,
        Reason.NOT_IN_ROLLOUT,
        Reason.PREREQUISITE,
    }
    values = {json.dumps(sdk.get_feature_value("theme", u)) for u in USERS}
    assert {'"gold"', '"blue"', '"grey"', '{"shade": [1, 2]}'} <= values
    team = User("u-1", {"plan": "team"})
    assert sdk.get_feature_value("limits", team) == []
    assert sdk.is_feature_on("limits", team) is False  # [] is off
    assert sdk.get_feature_value_detail("off", team) == (0, Reason.FLAG_OFF, False)


def test_get_feature_value_defaults(sdk: Client, service: Service) -> None:
    assert sdk.get_feature_value("missing", "u-1", "fallback") == "fallback"
    assert sdk.get_feature_value_detail("missing", "u-1", 3) == (
        3,
        Reason.UNKNOWN,
        False,
    )
    assert sdk.get_feature_value("missing", "u-1") is None
    # A rule that forces null ("vip-2" is in "beta", and "auth" is on for
    # them): the detail says so, the value falls back, as in GrowthBook.
    beta = User("vip-2", {"country": "US"})
    assert sdk.get_feature_value_detail("theme", beta, "d") == (
        None,
        Reason.RULE,
        False,
    )
    assert sdk.get_feature_value("theme", beta, "dflt") == "dflt"
    assert sdk.is_feature_on("theme", beta) is False
    cold = Client(service.url, SDK_KEY, initial_fetch=False)
    assert cold.get_feature_value_detail("theme", beta, "x") == (
        "x",
        Reason.NO_CONFIG,
        False,
    )
    assert cold.is_feature_on("theme", beta) is False
    cold.close(timeout=1)


# -- the asyncio client ------------------------------------------------------------


def test_the_async_client_decides_as_the_sync_one(
    sdk: Client, service: Service
) -> None:
    async def decide() -> list[Any]:
        async with AsyncClient(service.url, SDK_KEY, flush_interval=0.05) as ab:
            decided = [
                (
                    ab.variation_detail(key, user),
                    ab.get_feature_value_detail(flag, user, "d"),
                    ab.get_feature_value(flag, user, "d"),
                    ab.is_feature_on(flag, user),
                )
                for user in USERS
                for key, flag in (("checkout", "theme"), ("vip", "limits"))
            ]
            assert await ab.flush(timeout=5)
            return decided

    mine = asyncio.run(decide())
    assert mine == [
        (
            sdk.variation_detail(key, user),
            sdk.get_feature_value_detail(flag, user, "d"),
            sdk.get_feature_value(flag, user, "d"),
            sdk.is_feature_on(flag, user),
        )
        for user in USERS
        for key, flag in (("checkout", "theme"), ("vip", "limits"))
    ]
    sent = {(e["experiment"], e["user_id"]) for e in service.exposures}
    assert sent == {
        (key, u.id)
        for u in USERS
        for key in ("checkout", "vip")
        if expected(key, u).reason is not Reason.NOT_TARGETED
    }
    properties = {u.id: dict(u.properties) for u in USERS}
    assert all(e.get("attributes") == (properties[e["user_id"]] or None)
               for e in service.exposures)  # fmt: skip
