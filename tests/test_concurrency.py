"""Races over real HTTP: atomic sticky enrollment and an exact cap."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis as redis_py

from tests.helpers import PREFIX, Admin


def race(url: str, paths: list[str]) -> list[dict[str, Any]]:
    """Fire every request at the same moment, one thread each."""
    barrier = threading.Barrier(len(paths))

    def call(path: str) -> dict[str, Any]:
        barrier.wait()
        with urllib.request.urlopen(url + path, timeout=30) as response:
            assert response.status == 200
            return json.load(response)  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        return list(pool.map(call, paths))


def assignments(redis: redis_py.Redis, key: str) -> int:
    """Stored assignments, counted over every bucket hash of ``key``."""
    return sum(redis.hlen(k) for k in redis.keys(f"{PREFIX}:x:{{{key}}}:a:*"))


def test_concurrent_first_requests_store_one_assignment(
    live_server: str, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("race")
    answers = race(live_server, ["/process_user?user_id=same&experiment=race"] * 200)
    assert len({a["variation"] for a in answers}) == 1
    assert Counter(a["enrolled"] for a in answers) == {True: 1, False: 199}
    assert assignments(redis, "race") == 1
    assert redis.llen(f"{PREFIX}:x:{{race}}:log") == 1
    assert redis.hget(f"{PREFIX}:x:{{race}}:c", "n") == b"1"


def test_cap_is_exact_under_concurrency(
    live_server: str, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("capped", max_participants=50)
    paths = [f"/process_user?user_id=user-{i}&experiment=capped" for i in range(500)]
    answers = race(live_server, paths)
    enrolled = [a for a in answers if a["enrolled"]]
    assert len(enrolled) == 50
    assert all(a["in_experiment"] for a in enrolled)
    assert {a["reason"] for a in answers if not a["enrolled"]} == {"full"}
    assert assignments(redis, "capped") == 50
    assert redis.hget(f"{PREFIX}:x:{{capped}}:c", "n") == b"50"
    assert redis.llen(f"{PREFIX}:x:{{capped}}:log") == 50
