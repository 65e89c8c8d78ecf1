"""Redis going away and coming back: the service degrades, then recovers."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from abflask.core import bucketing as core
from abflask.core.records import decode_record
from tests.helpers import ADMIN_TOKEN, PREFIX, Restartable, make_app

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(restartable: Restartable) -> FlaskClient:
    app = make_app(restartable.url, ABFLASK_CONFIG_TTL=0.0)
    return app.test_client()


def enroll(client: FlaskClient, user: str) -> dict[str, object]:
    response = client.get("/process_user", query_string={"user_id": user})
    assert response.status_code == 200
    return response.json  # type: ignore[return-value]


def test_outage_degrades_then_recovers(
    client: FlaskClient, restartable: Restartable
) -> None:
    before = enroll(client, "u1")
    assert (
        client.post("/track", json={"user_id": "u1", "event": "buy"}).status_code == 202
    )
    restartable.stop()

    down = enroll(client, "u2")
    expected = ["control", "experiment"][core.choose_variation("u2", "default", None)]
    assert (down["stored"], down["reason"], down["variation"]) == (
        False,
        "unavailable",
        expected,
    )
    tracked = client.post("/track", json={"user_id": "u1", "event": "buy"})
    assert tracked.status_code == 503
    assert tracked.headers["Retry-After"] == "1"
    assert tracked.json["error"] == "storage_unavailable"
    batch = client.post(
        "/track/batch", json={"events": [{"user_id": "u1", "event": "x"}]}
    )
    assert batch.status_code == 503
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json["error"]) == (503, "storage_unavailable")
    assert client.get("/healthz").status_code == 200

    restartable.start()
    assert client.get("/readyz").status_code == 200
    after = enroll(client, "u1")
    assert (after["variation"], after["reason"]) == (before["variation"], "sticky")
    assert enroll(client, "u2")["stored"] is True
    assert (
        client.post("/track", json={"user_id": "u1", "event": "buy"}).status_code == 202
    )


def test_acknowledged_events_survive_redis_being_killed(
    client: FlaskClient, restartable: Restartable
) -> None:
    enroll(client, "u1")
    events = [{"user_id": "u1", "event": "buy", "value": i} for i in range(100)]
    response = client.post("/track/batch", json={"events": events})
    assert response.json["recorded"] == 100
    restartable.kill()  # no shutdown: only what the append-only file has survives
    restartable.start()
    raw = restartable.server.client().lrange(f"{PREFIX}:x:{{default}}:log", 0, -1)
    values = [decode_record(r).value for r in raw if not decode_record(r).exposure]
    assert values == [float(i) for i in range(100)]


def test_cold_start_without_redis(restartable: Restartable) -> None:
    restartable.stop()
    client = make_app(restartable.url).test_client()
    answer = client.get("/process_user?user_id=u1").json
    assert (answer["stored"], answer["reason"]) == (False, "unavailable")
    unknown = client.get("/process_user?user_id=u1&experiment=other")
    assert unknown.status_code == 503
    assert unknown.json["error"] == "storage_unavailable"
    admin = client.get("/experiments", headers=AUTH)
    assert admin.status_code == 503
    restartable.start()


def test_default_experiment_answers_when_redis_dies_before_creating_it(
    restartable: Restartable,
) -> None:
    """Definitions were loaded (no default yet), then Redis went away."""
    client = make_app(restartable.url, ABFLASK_CONFIG_TTL=3600.0).test_client()
    created = client.post(
        "/experiments", headers=AUTH, json={"key": "other", "variations": ["a", "b"]}
    )
    assert created.status_code == 201
    assert client.get("/process_user?user_id=u1&experiment=other").status_code == 200
    restartable.stop()
    answer = client.get("/process_user?user_id=u1")
    assert answer.status_code == 200
    assert (answer.json["stored"], answer.json["reason"]) == (False, "unavailable")
    restartable.start()


def test_returning_users_are_answered_from_memory_while_redis_is_down(
    client: FlaskClient, restartable: Restartable
) -> None:
    before = enroll(client, "u1")
    restartable.stop()
    again = enroll(client, "u1")
    assert (again["variation"], again["reason"], again["stored"]) == (
        before["variation"],
        "sticky",
        True,
    )
    restartable.start()


def test_memory_of_assignments_can_be_turned_off(restartable: Restartable) -> None:
    client = make_app(restartable.url, ABFLASK_ASSIGNMENT_CACHE=0).test_client()
    enroll(client, "u1")
    restartable.stop()
    assert enroll(client, "u1")["reason"] == "unavailable"
    restartable.start()
