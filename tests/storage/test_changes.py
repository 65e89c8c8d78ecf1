"""The change channel: publish, listen, reconnect after a Redis restart, end.

Real redis-servers throughout; the restart test stops and restarts a private
one on the same socket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_py

from abflask.storage import localredis
from abflask.storage.store import Store
from tests.helpers import PREFIX


class Recorder:
    """A handler that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []
        self.changed = threading.Event()

    def handle(self, message: str | None) -> None:
        self.calls.append(message)
        self.changed.set()


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_published_change_reaches_the_listener(
    redis_server: localredis.LocalRedis, redis: redis_py.Redis
) -> None:
    store = Store.from_url(redis_server.url, prefix=PREFIX)
    recorder = Recorder()
    listener = store.listen_changes(lambda: recorder.handle)
    try:
        wait_for(lambda: listener.live)
        assert recorder.calls == [None]  # subscribed: reload everything
        store.publish_change("x:checkout")
        wait_for(lambda: len(recorder.calls) == 2)
        assert recorder.calls == [None, "x:checkout"]
    finally:
        listener.close(5)
    assert not listener.live


def test_the_channel_is_under_the_prefix(
    redis_server: localredis.LocalRedis, redis: redis_py.Redis
) -> None:
    store = Store.from_url(redis_server.url, prefix="other")
    seen = redis.pubsub()
    seen.subscribe("other:chg")
    assert seen.get_message(timeout=5)["type"] == "subscribe"
    store.publish_change("*")
    assert seen.get_message(timeout=5)["data"] == b"*"
    seen.close()


def test_listener_ends_once_its_owner_is_gone(
    redis_server: localredis.LocalRedis, redis: redis_py.Redis
) -> None:
    store = Store.from_url(redis_server.url, prefix=PREFIX)
    owner: list[Callable[[str | None], None]] = [Recorder().handle]
    listener = store.listen_changes(lambda: owner[0] if owner else None)
    wait_for(lambda: listener.live)
    owner.clear()
    wait_for(lambda: not listener._thread.is_alive())  # within one poll
    assert not listener.live


@pytest.mark.slow
def test_listener_resubscribes_after_a_restart_and_says_so(tmp_path: Path) -> None:
    server = localredis.start(tmp_path, persistent=False)
    store = Store.from_url(server.url, prefix=PREFIX)
    recorder = Recorder()
    listener = store.listen_changes(lambda: recorder.handle)
    try:
        wait_for(lambda: listener.live)
        server.stop()
        wait_for(lambda: not listener.live)  # noticed: the cache stops trusting
        server = localredis.start(tmp_path, persistent=False)
        wait_for(lambda: recorder.calls.count(None) == 2)  # resubscribed: reload
        assert listener.live
        store.publish_change("f:nav")
        wait_for(lambda: recorder.calls[-1] == "f:nav")
    finally:
        listener.close(5)
        server.stop()
