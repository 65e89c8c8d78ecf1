"""The definitions change channel's listener: one daemon thread per process.

Publishing is ``Store.publish_change``; this module receives. The thread holds
one pub/sub connection, pings it every second, reconnects with backoff after
any failure, and reports each (re)subscription, after which the owner must
reload everything (messages sent while it was away are lost). It never
decides anything: it calls its owner back, and ends once the owner is gone.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""Seconds the thread waits for a message before checking on its owner."""
PING_SECONDS = 1.0
"""Seconds between PINGs on the subscription, which prove it is alive."""
SILENCE_SECONDS = 3.0
"""Seconds without any answer after which the subscription counts as dead."""
RETRY_SECONDS = (0.05, 2.0)
"""First and longest wait, in seconds, before reconnecting (doubling, jittered)."""

_JITTER = random.Random()
"""A generator of its own: the thread never draws from (or disturbs) the global
``random`` state of the application it runs in."""

Handler = Callable[[str | None], None]
"""Called with each message, or None after each (re)subscription."""


class ChangeListener:
    """Listens on one channel in a daemon thread until ``close()`` or its owner goes.

    ``owner`` returns the handler, or None once the owner is gone (a
    ``weakref.WeakMethod`` does exactly that), so a listener never keeps its
    owner alive. ``live`` says whether every message published now will
    reach the handler.
    """

    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        owner: Callable[[], Handler | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._channel = channel
        self._owner = owner
        self._clock = clock
        self._stopped = threading.Event()
        self._alive_until = 0.0
        self._subscribed = False
        self._thread = threading.Thread(
            target=self._run, name=f"abflask-changes-{channel}", daemon=True
        )

    def start(self) -> ChangeListener:
        """Start the thread (once); returns self."""
        self._thread.start()
        return self

    @property
    def live(self) -> bool:
        """Subscribed, and the server answered within ``SILENCE_SECONDS``."""
        return self._subscribed and self._clock() < self._alive_until

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread (within ``POLL_SECONDS``); wait for it up to ``timeout``."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _deliver(self, data: str | None) -> bool:
        handler = self._owner()
        if handler is None:
            return False
        handler(data)
        return True

    def _run(self) -> None:
        delay = RETRY_SECONDS[0]
        failures = 0
        while not self._stopped.is_set():
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                if not self._listen(pubsub):
                    return
            except (RedisError, OSError) as exc:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    logger.warning("change channel lost (%d times): %s", failures, exc)
            finally:
                if self._subscribed:  # it worked until now: retry soon
                    delay = RETRY_SECONDS[0]
                self._subscribed = False
                pubsub.close()
            self._stopped.wait(delay * _JITTER.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_SECONDS[1])

    def _listen(self, pubsub: Any) -> bool:
        """Serve one subscription; False once the owner is gone or stopped.

        Raises on any connection failure, and when the server fell silent.
        """
        next_ping = self._clock() + PING_SECONDS
        while not self._stopped.is_set():
            message = pubsub.get_message(timeout=POLL_SECONDS)
            now = self._clock()
            if message is not None:
                self._alive_until = now + SILENCE_SECONDS
                kind = message["type"]
                if kind == "subscribe":
                    self._subscribed = True
                    if not self._deliver(None):
                        return False
                elif kind == "message":
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    if not self._deliver(text):
                        return False
            elif self._owner() is None:
                return False
            if self._subscribed and now >= self._alive_until:
                raise redis.ConnectionError("the change channel fell silent")
            if now >= next_ping:
                pubsub.ping()
                next_ping = now + PING_SECONDS
        return False
