"""Store.enroll_many: the batched enrollment of /sdk/exposures, against real Redis.

It must decide exactly as one enroll.lua call per item (sticky, capped,
exposure record) and take one round trip.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis as redis_py
from redis.connection import AbstractConnection

from abflask.core.experiment import Experiment
from abflask.core.outcomes import Enrollment
from abflask.storage import localredis
from abflask.storage.store import Store
from tests.helpers import PREFIX


@pytest.fixture
def store(redis_server: localredis.LocalRedis, redis: redis_py.Redis) -> Store:
    return Store.from_url(redis_server.url, prefix=PREFIX)


def running(store: Store, key: str = "exp", cap: int | None = None) -> Experiment:
    exp = Experiment(key=key, variations=("a", "b"), max_participants=cap)
    created = store.create_experiment(exp)
    return store.save_experiment(created.start(1.7e9))


def test_batch_answers_as_single_calls_would(
    store: Store, redis: redis_py.Redis
) -> None:
    exp = running(store)
    store.enroll(exp, "old", 1, 1.7e9)
    replies = store.enroll_many(
        [(exp, "new", 0), (exp, "old", 0), (exp, "out", -1), (exp, "new", 1)], 1.7e9
    )
    assert replies == [
        (Enrollment.ENROLLED, 0),
        (Enrollment.STICKY, 1),
        (Enrollment.EXCLUDED, -1),
        (Enrollment.STICKY, 0),  # the same user later in the batch
    ]
    assert redis.llen(f"{PREFIX}:x:{{exp}}:log") == 2  # one exposure each


def test_stale_items_write_nothing(store: Store, redis: redis_py.Redis) -> None:
    exp = running(store)
    store.save_experiment(exp.patch({"name": "renamed"}, now=1.7e9))
    assert store.enroll_many([(exp, "u1", 0)], 1.7e9) == [(Enrollment.STALE, -1)]
    assert redis.llen(f"{PREFIX}:x:{{exp}}:log") == 0


def test_batch_survives_a_script_flush(store: Store, redis: redis_py.Redis) -> None:
    exp = running(store)
    store.enroll_many([(exp, "u0", 0)], 1.7e9)
    redis.script_flush()  # as after a Redis restart
    replies = store.enroll_many([(exp, f"u{i}", i % 2) for i in range(5)], 1.7e9)
    assert replies[0] == (Enrollment.STICKY, 0)
    assert [r[0] for r in replies[1:]] == [Enrollment.ENROLLED] * 4


def test_one_round_trip_for_a_batch(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = running(store)
    store.enroll_many([(exp, "warm", 0)], 1.7e9)  # scripts loaded
    sent: list[int] = []
    original = AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    store.enroll_many([(exp, f"u{i}", i % 2) for i in range(1000)], 1.7e9)
    assert len(sent) == 1


def test_cap_is_exact_when_batches_race(store: Store, redis: redis_py.Redis) -> None:
    exp = running(store, cap=50)
    outcomes: list[Enrollment] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        replies = store.enroll_many([(exp, f"u{n}-{i}", 0) for i in range(40)], 1.7e9)
        with lock:
            outcomes.extend(status for status, _ in replies)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count(Enrollment.ENROLLED) == 50
    assert outcomes.count(Enrollment.FULL) == 8 * 40 - 50
    assert redis.hget(f"{PREFIX}:x:{{exp}}:c", "n") == b"50"
