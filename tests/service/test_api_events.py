"""``/track`` and ``/track/batch`` through the real app and a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_py
from flask.testing import FlaskClient

from abflask.core.records import decode_record, fingerprint
from abflask.storage import store as st
from tests.helpers import PREFIX, Admin, make_app, snapshot

LOG = f"{PREFIX}:x:{{exp}}:log"


@pytest.fixture
def enrolled(client: FlaskClient, admin: Admin) -> list[str]:
    """Experiment ``exp`` running, with users u0..u2 enrolled."""
    admin.experiment("exp", metrics=["buy"])
    users = ["u0", "u1", "u2"]
    for user in users:
        client.get("/process_user", query_string={"user_id": user, "experiment": "exp"})
    return users


def events_in_log(redis: redis_py.Redis) -> list[Any]:
    records = [decode_record(r) for r in redis.lrange(LOG, 0, -1)]
    return [r for r in records if not r.exposure]


def test_track_appends_event_with_variation(
    client: FlaskClient, admin: Admin, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    variation = client.get("/process_user?user_id=u1&experiment=exp").json
    response = client.post(
        "/track",
        json={"user_id": "u1", "event": "buy", "value": 9.5, "timestamp": 1.7e9},
    )
    assert response.status_code == 202
    assert response.json == {
        "accepted": 1,
        "duplicates": 0,
        "recorded": 1,
        "dropped": 0,
    }
    [record] = events_in_log(redis)
    names = ["control", "treatment"]
    assert names[record.variation] == variation["variation"]
    assert (record.value, record.timestamp) == (9.5, 1_700_000_000)
    assert record.user == fingerprint("u1")


def test_batch_updates_live_counters(
    client: FlaskClient, admin: Admin, enrolled: list[str]
) -> None:
    batch = [{"user_id": u, "event": "buy", "value": 2} for u in enrolled]
    batch.append({"user_id": "u0", "event": "buy", "value": 1})
    response = client.post("/track/batch", json={"events": batch})
    assert response.status_code == 202
    assert response.json["recorded"] == 4
    counts = admin.get("/experiments/exp").json["counts"]
    cells = [v["events"].get("buy") for v in counts["variations"]]
    total = {k: sum(c[k] for c in cells if c) for k in ("users", "count", "sum")}
    assert total == {"users": 3, "count": 4, "sum": 7.0}
    assert counts["participants"] == 3


def test_event_of_unenrolled_user_is_accepted_not_recorded(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    before = snapshot(redis)
    response = client.post("/track", json={"user_id": "stranger", "event": "buy"})
    assert response.status_code == 202
    assert response.json["recorded"] == 0
    assert snapshot(redis) == before


def test_duplicate_event_id_is_stored_once(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    body = {"user_id": "u0", "event": "buy", "value": 5, "event_id": "order-1"}
    first = client.post("/track", json=body)
    second = client.post("/track", json=body)
    batch = client.post("/track/batch", json={"events": [body, body]})
    assert first.json["duplicates"] == 0
    assert second.json == {"accepted": 0, "duplicates": 1, "recorded": 0, "dropped": 0}
    assert batch.json["duplicates"] == 2
    assert len(events_in_log(redis)) == 1


def test_repeats_within_one_batch_count_once(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    body = {"user_id": "u0", "event": "buy", "event_id": "e-1"}
    response = client.post("/track/batch", json={"events": [body, body, body]})
    assert response.json["accepted"] == 1
    assert response.json["duplicates"] == 2
    assert len(events_in_log(redis)) == 1


def test_events_go_to_every_running_experiment(
    client: FlaskClient, admin: Admin, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    admin.experiment("two")
    admin.experiment("paused")
    for key in ("two", "paused"):
        client.get("/process_user", query_string={"user_id": "u0", "experiment": key})
    admin.post("/experiments/paused/stop")
    response = client.post("/track", json={"user_id": "u0", "event": "buy"})
    assert response.json["recorded"] == 2
    assert redis.llen(f"{PREFIX}:x:{{paused}}:log") == 1  # its exposure only


def test_definition_changed_elsewhere_is_picked_up(
    redis_server: Any,
    client: FlaskClient,
    admin: Admin,
    enrolled: list[str],
    redis: redis_py.Redis,
) -> None:
    """A worker with an old cached definition refreshes instead of failing."""
    other = make_app(redis_server.url, ABFLASK_CONFIG_TTL=3600.0)
    other_client = other.test_client()
    assert (
        other_client.post("/track", json={"user_id": "u0", "event": "buy"}).json[
            "recorded"
        ]
        == 1
    )
    admin.patch("/experiments/exp", json={"name": "renamed"})  # version moves on
    response = other_client.post("/track", json={"user_id": "u1", "event": "buy"})
    assert response.json["recorded"] == 1
    answer = other_client.get("/process_user?user_id=u1&experiment=exp").json
    assert answer["reason"] == "sticky"


BAD_EVENTS = [
    ({"event": "buy"}, "user_id"),
    ({"user_id": "", "event": "buy"}, "user_id"),
    ({"user_id": "u" * 257, "event": "buy"}, "user_id"),
    ({"user_id": "u0"}, "event"),
    ({"user_id": "u0", "event": "$exposure"}, "event"),
    ({"user_id": "u0", "event": "buy", "value": "12"}, "value"),
    ({"user_id": "u0", "event": "buy", "value": True}, "value"),
    ({"user_id": "u0", "event": "buy", "properties": {"a": {"b": 1}}}, "properties.a"),
    (
        {"user_id": "u0", "event": "buy", "properties": {str(i): i for i in range(21)}},
        "properties",
    ),
    ({"user_id": "u0", "event": "buy", "event_id": 7}, "event_id"),
    ({"user_id": "u0", "event": "buy", "timestamp": 10}, "timestamp"),
    ({"user_id": "u0", "event": "buy", "vlaue": 1}, "vlaue"),
]
BAD_IDS = [
    "no-user",
    "empty-user",
    "long-user",
    "no-event",
    "reserved-event",
    "string-value",
    "bool-value",
    "nested-property",
    "too-many-properties",
    "numeric-event-id",
    "ancient-timestamp",
    "unknown-field",
]


@pytest.mark.parametrize(("body", "field"), BAD_EVENTS, ids=BAD_IDS)
def test_malformed_event_is_400_and_writes_nothing(
    client: FlaskClient,
    redis: redis_py.Redis,
    enrolled: list[str],
    body: dict[str, Any],
    field: str,
) -> None:
    before = snapshot(redis)
    response = client.post("/track", json=body)
    assert response.status_code == 400
    assert (response.json["error"], response.json["field"]) == ("invalid", field)
    assert snapshot(redis) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_value_is_400(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str], literal: str
) -> None:
    before = snapshot(redis)
    raw = '{"user_id": "u0", "event": "buy", "value": ' + literal + "}"
    response = client.post("/track", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json["field"] == "value"
    assert snapshot(redis) == before


def test_one_bad_event_rejects_the_whole_batch(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    before = snapshot(redis)
    good = {"user_id": "u0", "event": "buy"}
    response = client.post("/track/batch", json={"events": [good, {"event": "x"}]})
    assert response.status_code == 400
    assert response.json["field"] == "events[1].user_id"
    assert snapshot(redis) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"events": "x"}, "events"),
        ({}, "events"),
        ([], "body"),
        ({"events": [{"user_id": "u", "event": "e"}] * 1001}, "events"),
    ],
    ids=["empty", "not-a-list", "missing", "not-an-object", "oversize"],
)
def test_malformed_batch_is_400_and_writes_nothing(
    client: FlaskClient,
    redis: redis_py.Redis,
    enrolled: list[str],
    body: Any,
    field: str,
) -> None:
    before = snapshot(redis)
    response = client.post("/track/batch", json=body)
    assert response.status_code == 400
    assert response.json["field"] == field
    assert snapshot(redis) == before


@pytest.mark.parametrize("raw", ["", "{bad", "null", "[1,"])
def test_bad_json_body_is_400(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str], raw: str
) -> None:
    before = snapshot(redis)
    response = client.post("/track", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "invalid"
    assert snapshot(redis) == before


def test_oversize_request_is_413_json(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    before = snapshot(redis)
    huge = '{"events": [' + ",".join(['{"user_id":"u0","event":"buy"}'] * 40000) + "]}"
    response = client.post("/track/batch", data=huge, content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"
    assert snapshot(redis) == before


def test_same_event_id_of_different_users_is_not_a_duplicate(
    client: FlaskClient, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    batch = [{"user_id": u, "event": "buy", "event_id": "1"} for u in enrolled]
    response = client.post("/track/batch", json={"events": batch})
    assert response.json["duplicates"] == 0
    again = client.post(
        "/track", json={"user_id": "u2", "event": "buy", "event_id": "1"}
    )
    assert again.json["duplicates"] == 1
    assert len(events_in_log(redis)) == 3


def test_undeclared_event_keys_cannot_crowd_out_the_metrics(
    client: FlaskClient, admin: Admin, redis: redis_py.Redis, enrolled: list[str]
) -> None:
    """An anonymous client used up all 65,535 event keys in 66 requests."""
    client.get("/process_user?user_id=attacker&experiment=exp")  # public
    dropped = 0
    for r in range(66):
        junk = [{"user_id": "attacker", "event": f"junk-{r}-{i}"} for i in range(1000)]
        answer = client.post("/track/batch", json={"events": junk})
        assert answer.status_code == 202
        dropped += answer.json["dropped"]
    assert dropped == 66 * 1000 - st.MAX_UNDECLARED_KEYS
    assert redis.hlen(f"{PREFIX}:x:{{exp}}:ev") <= st.MAX_UNDECLARED_KEYS + 2
    answer = client.post("/track", json={"user_id": "u0", "event": "buy", "value": 3})
    assert answer.json == {"accepted": 1, "duplicates": 0, "recorded": 1, "dropped": 0}
    counts = admin.get("/experiments/exp").json["counts"]
    cells = [v["events"].get("buy", {}) for v in counts["variations"]]
    assert sum(cell.get("count", 0) for cell in cells) == 1
