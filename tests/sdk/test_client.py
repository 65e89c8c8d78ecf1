"""The SDK against the real service over HTTP (live server, real Redis)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import redis as redis_py
from flask.testing import FlaskClient

from abflask.core.records import decode_record
from abflask.sdk.client import Client, HTTPTransport, Reason, User
from tests.helpers import PREFIX, SDK_KEY, Admin, make_app


class Spy:
    """A transport that records responses and can play a service outage."""

    def __init__(self) -> None:
        self.inner = HTTPTransport()
        self.down = threading.Event()
        self.calls: list[tuple[str, str, int]] = []

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        if self.down.is_set():
            self.calls.append((method, url, -1))
            raise ConnectionRefusedError("service down")
        status, out_headers, out = self.inner(method, url, headers, body, timeout)
        self.calls.append((method, url, status))
        return status, out_headers, out


@pytest.fixture
def spy() -> Spy:
    return Spy()


@pytest.fixture
def sdk(live_server: str, admin: Admin, spy: Spy) -> Iterator[Client]:
    admin.experiment("exp", weights=[0.3, 0.7], coverage=0.9)
    admin.post("/flags", json={"key": "nav", "enabled": True, "rollout": 0.5})
    client = Client(
        live_server, SDK_KEY, transport=spy, flush_interval=0.05, batch_size=100
    )
    yield client
    client.close(timeout=5)


def log(redis: redis_py.Redis, key: str = "exp") -> list[Any]:
    return [decode_record(r) for r in redis.lrange(f"{PREFIX}:x:{{{key}}}:log", 0, -1)]


def test_config_needs_a_key(client: FlaskClient) -> None:
    assert client.get("/sdk/config").status_code == 401
    wrong = client.get("/sdk/config", headers={"X-SDK-Key": "x" * 20})
    assert (wrong.status_code, wrong.json["error"]) == (401, "unauthorized")


def test_config_disabled_without_keys(redis_server: Any, redis: redis_py.Redis) -> None:
    app = make_app(redis_server.url, ABFLASK_SDK_KEYS=None)
    response = app.test_client().get("/sdk/config", headers={"X-SDK-Key": SDK_KEY})
    assert response.status_code == 403


def test_config_etag_and_304(client: FlaskClient, admin: Admin) -> None:
    headers = {"X-SDK-Key": SDK_KEY}
    first = client.get("/sdk/config", headers=headers)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    again = client.get("/sdk/config", headers={**headers, "If-None-Match": etag})
    assert (again.status_code, again.data) == (304, b"")
    admin.experiment("new")
    changed = client.get("/sdk/config", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert set(changed.json["experiments"]) == {"default", "new"}


def test_exposures_endpoint_validates_everything_first(
    client: FlaskClient, redis: redis_py.Redis
) -> None:
    headers = {"X-SDK-Key": SDK_KEY}
    bad = {
        "exposures": [
            {"user_id": "u1", "experiment": "default"},
            {"user_id": "", "experiment": "default"},
        ]
    }
    response = client.post("/sdk/exposures", json=bad, headers=headers)
    assert (response.status_code, response.json["field"]) == (
        400,
        "exposures[1].user_id",
    )
    assert redis.keys("*") == []
    unknown = {"exposures": [{"user_id": "u1", "experiment": "nope"}]}
    response = client.post("/sdk/exposures", json=unknown, headers=headers)
    assert response.json["assignments"][0]["reason"] == "not_found"


def test_sdk_agrees_with_process_user_for_10000_users(
    sdk: Client, client: FlaskClient
) -> None:
    users = [f"user-{i}" for i in range(10_000)]
    local = [sdk.variation("exp", u) for u in users]
    served = [
        client.get(f"/process_user?user_id={u}&experiment=exp").json["variation"]
        for u in users
    ]
    assert local == served
    assert {"control", "treatment"} == set(local)


def test_exposures_and_events_reach_the_event_log(
    sdk: Client, redis: redis_py.Redis
) -> None:
    for i in range(50):
        sdk.variation("exp", f"u{i}")
        sdk.variation("exp", f"u{i}")  # exposure sent once
        sdk.track("buy", User(f"u{i}", {"plan": "pro"}), value=i)
    sdk.close(timeout=5)
    records = log(redis)
    exposures = [r for r in records if r.exposure]
    events = [r for r in records if not r.exposure]
    in_experiment = sum(
        sdk.variation_detail("exp", f"u{i}").in_experiment for i in range(50)
    )
    assert len(exposures) == in_experiment > 0
    assert len(events) == in_experiment
    assert {r.properties["plan"] for r in events} == {"pro"}


def test_stored_assignment_wins_after_weights_change(
    sdk: Client, admin: Admin, client: FlaskClient
) -> None:
    first = {
        u: client.get(f"/process_user?user_id={u}&experiment=exp").json["variation"]
        for u in (f"s{i}" for i in range(40))
    }
    admin.patch("/experiments/exp", json={"weights": [0.7, 0.3]})
    sdk.refresh()
    for user in first:
        sdk.variation("exp", user)
    assert sdk.flush(timeout=5)
    assert {u: sdk.variation("exp", u) for u in first} == first
    assert {sdk.variation_detail("exp", u).reason for u in first} <= {
        Reason.STORED,
        Reason.EXCLUDED,
    }


def test_close_flushes_everything(sdk: Client, redis: redis_py.Redis) -> None:
    # "buyer" hashes into "treatment", inside the fixture's 90% coverage, so
    # the SDK exposes them and the service records their events.
    assert sdk.variation_detail("exp", "buyer") == ("treatment", Reason.ASSIGNED, True)
    for i in range(1234):
        sdk.track("click", "buyer", value=i)
    sdk.close(timeout=10)
    assert len([r for r in log(redis) if not r.exposure]) == 1234


def test_events_survive_an_outage(sdk: Client, spy: Spy, redis: redis_py.Redis) -> None:
    users = [
        u
        for u in (f"o{i}" for i in range(30))
        if sdk.variation_detail("exp", u).in_experiment
    ]
    assert sdk.flush(timeout=5)
    spy.down.set()
    for user in users:
        sdk.track("buy", user, value=1.5)
    assert not sdk.flush(timeout=0.3)  # down: kept, not lost
    spy.down.clear()
    sdk.close(timeout=10)
    events = [r for r in log(redis) if not r.exposure]
    assert len(events) == len(users)
    assert any(status == -1 for _, _, status in spy.calls)


def test_full_queue_drops_and_counts(live_server: str, admin: Admin, spy: Spy) -> None:
    spy.down.set()
    client = Client(
        live_server, SDK_KEY, transport=spy, max_queue=10, initial_fetch=False
    )
    for i in range(25):
        client.track("buy", f"u{i}")
    assert client.dropped == 15
    spy.down.clear()
    client.close(timeout=5)


def test_refresh_uses_etag(sdk: Client, spy: Spy) -> None:
    assert sdk.refresh()
    assert spy.calls[-1][2] == 304


def test_decisions_and_reasons(sdk: Client, admin: Admin, live_server: str) -> None:
    admin.experiment("draft", start=False)
    admin.experiment("done")
    admin.post("/experiments/done/complete", json={"winner": "treatment"})
    sdk.refresh()
    assert sdk.variation_detail("nope", "u1").reason is Reason.UNKNOWN
    assert sdk.variation("nope", "u1", default="A") == "A"
    assert sdk.variation_detail("draft", "u1").reason is Reason.UNKNOWN  # unpublished
    assert sdk.variation_detail("done", "u1").value == "treatment"
    on = [sdk.is_feature_on("nav", f"u{i}") for i in range(200)]
    assert 60 < sum(on) < 140
    assert sdk.is_feature_on_detail("missing", "u1").reason is Reason.UNKNOWN
    cold = Client(live_server, SDK_KEY, initial_fetch=False)
    assert cold.variation_detail("exp", "u1").reason is Reason.NO_CONFIG
    assert cold.is_feature_on("nav", "u1") is False
    cold.close()


def test_never_raises_when_the_service_is_unreachable(spy: Spy) -> None:
    spy.down.set()
    client = Client("http://127.0.0.1:9", SDK_KEY, transport=spy)
    assert client.variation("exp", "u1") == "control"
    assert client.is_feature_on("nav", "u1") is False
    client.track("buy", "u1")
    client.close(timeout=0.2)


def test_client_created_before_fork_works_in_parent_and_child(
    sdk: Client, redis: redis_py.Redis
) -> None:
    users = [
        u
        for u in (f"f{i}" for i in range(40))
        if sdk.variation_detail("exp", u).in_experiment
    ]
    sdk.flush(timeout=5)
    pid = os.fork()
    if pid == 0:  # the child: no pytest from here on, only an exit status
        code = 1
        try:
            sdk.after_fork()  # already reset by the fork hook: harmless
            sdk.track("child-event", users[0])
            sdk.variation("exp", "child-only-user")
            sdk.close(timeout=5)
            code = 0
        finally:
            os._exit(code)
    sdk.track("parent-event", users[1])
    sdk.close(timeout=5)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    names = redis.hgetall(f"{PREFIX}:x:{{exp}}:ev")
    assert {b"child-event", b"parent-event"} <= set(names)


def test_after_fork_is_a_no_op_in_the_same_process(sdk: Client, spy: Spy) -> None:
    spy.down.set()
    sdk.track("buy", "u1")
    reporter = sdk._reporter
    thread = reporter.thread
    sdk.after_fork()  # what a uWSGI postfork hook calls; not a child here
    assert (sdk._reporter, reporter.thread, reporter.outbox.busy) == (
        reporter,
        thread,
        True,
    )
    spy.down.clear()
