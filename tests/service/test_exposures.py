"""``POST /sdk/exposures``: truthful answers (``final``), 503 when nothing was
stored, one round trip per batch; against a real Redis (or a refused port)."""

from __future__ import annotations

from typing import Any

import redis as redis_py
from flask.testing import FlaskClient

from abflask.core.records import decode_record
from tests.helpers import PREFIX, SDK_KEY, Admin, free_port, make_app, snapshot

HEADERS = {"X-SDK-Key": SDK_KEY}


def expose(client: FlaskClient, *items: tuple[str, str]) -> Any:
    body = {"exposures": [{"experiment": e, "user_id": u} for e, u in items]}
    return client.post("/sdk/exposures", json=body, headers=HEADERS)


def test_each_answer_says_whether_it_is_final(
    client: FlaskClient, admin: Admin
) -> None:
    admin.experiment("live")
    admin.experiment("capped", max_participants=1)
    admin.experiment("tiny", coverage=0)
    admin.experiment("draft", start=False)
    admin.experiment("shipped")
    admin.post("/experiments/shipped/complete", json={"winner": "treatment"})
    expose(client, ("live", "old"), ("capped", "first"))
    response = expose(
        client,
        ("live", "new"),
        ("live", "old"),
        ("tiny", "u1"),
        ("capped", "second"),
        ("shipped", "u1"),
        ("draft", "u1"),
        ("missing", "u1"),
    )
    assert response.status_code == 200
    got = [(a["reason"], a["final"]) for a in response.json["assignments"]]
    assert got == [
        ("enrolled", True),
        ("sticky", True),
        ("excluded", True),
        ("full", True),
        ("winner", True),
        ("not_running", False),
        ("not_found", False),
    ]


def test_entries_keep_the_process_user_answer(
    client: FlaskClient, admin: Admin
) -> None:
    admin.experiment("live")
    [entry] = expose(client, ("live", "u1")).json["assignments"]
    served = client.get("/process_user?user_id=u1&experiment=live").json
    assert {**entry, "final": None} == {
        **served,
        "enrolled": True,
        "reason": "enrolled",
        "final": None,
    }


def test_batch_enrolls_exactly_like_process_user(
    client: FlaskClient, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("live")
    users = [f"u{i}" for i in range(300)]
    answers = expose(client, *[("live", u) for u in users]).json["assignments"]
    served = [
        client.get(f"/process_user?user_id={u}&experiment=live").json for u in users
    ]
    assert [a["variation"] for a in answers] == [s["variation"] for s in served]
    assert {s["reason"] for s in served} == {"sticky"}
    log = redis.lrange(f"{PREFIX}:x:{{live}}:log", 0, -1)
    assert sum(decode_record(r).exposure for r in log) == 300


def test_redis_unreachable_is_503_and_claims_nothing(redis: redis_py.Redis) -> None:
    down = make_app(f"redis://127.0.0.1:{free_port()}/0").test_client()
    for items in ([("default", "u1")], [("other", "u1")]):
        response = expose(down, *items)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert "assignments" not in response.json


def test_a_bad_batch_writes_nothing(client: FlaskClient, redis: redis_py.Redis) -> None:
    before = snapshot(redis)
    response = expose(client, ("default", "u1"), ("default", ""))
    assert (response.status_code, response.json["field"]) == (
        400,
        "exposures[1].user_id",
    )
    assert snapshot(redis) == before
