"""The SDK's background reporter: queues exposures and events, sends them in batches.

One daemon thread, started lazily on first use, refreshes the configuration
on schedule and sends queued exposures (``POST /sdk/exposures``) and events
(``POST /track/batch``) by size or interval, with capped exponential backoff
and jitter on failure. A ``Reporter`` lives in one process: after a fork the
client builds a new one.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from abflask.core.event import parse_event
from abflask.errors import ValidationError

logger = logging.getLogger(__name__)

Request = Callable[
    [str, str, Any, Mapping[str, str] | None], tuple[int, Mapping[str, str], bytes]
]
"""``(method, path, json_body, extra_headers) -> (status, headers, body)``."""

BACKOFF_BASE, BACKOFF_CAP = 0.5, 60.0
"""Seconds: first retry delay and the longest one."""


def backoff(attempt: int) -> float:
    """Capped exponential backoff with full jitter, in seconds."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 16)))


class Reporter:
    """Queues and the one background thread that drains them.

    ``request`` sends one HTTP request to the service; ``refresh`` re-reads
    the configuration (True on success); ``on_assignment`` receives each
    entry of an exposure answer.
    """

    def __init__(
        self,
        request: Request,
        refresh: Callable[[], bool],
        on_assignment: Callable[[Mapping[str, Any]], None],
        *,
        refresh_interval: float,
        flush_interval: float,
        batch_size: int,
        max_queue: int,
    ) -> None:
        self._request = request
        self._refresh = refresh
        self._on_assignment = on_assignment
        self.refresh_interval, self.flush_interval = refresh_interval, flush_interval
        self.batch_size, self.max_queue = batch_size, max_queue
        self._events: deque[Any] = deque()  # raw tuples, or bodies to resend
        self._exposures: deque[tuple[str, str]] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self.dropped = 0
        """Events and exposures given up on (queue full, or rejected)."""

    # -- queueing: from the caller's thread, never blocks -----------------------

    def expose(self, cell: tuple[str, str]) -> None:
        """Queue one ``(experiment, user_id)`` exposure."""
        if len(self._exposures) >= self.max_queue:
            self.dropped += 1
            return
        self._exposures.append(cell)
        if self._thread is None:
            self._start()

    def track(
        self, event: str, user: str, value: float | None, properties: dict[str, Any]
    ) -> None:
        """Queue one event; a full queue drops it (counted, logged)."""
        if len(self._events) >= self.max_queue:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                logger.warning("abflask queue full: %d events dropped", self.dropped)
            return
        self._events.append((event, user, value, properties, time.time()))
        if self._thread is None:
            self._start()
        elif len(self._events) >= self.batch_size:
            with self._wake:
                self._wake.notify()

    # -- the background thread -----------------------------------------------

    def _start(self) -> None:
        with self._wake:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._run, name="abflask-sdk", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        next_refresh = time.monotonic() + self.refresh_interval
        next_flush = time.monotonic() + self.flush_interval
        failures = 0
        wake = self._wake
        while True:
            with wake:
                if not self._stopping:
                    delay = min(next_refresh, next_flush) - time.monotonic()
                    if len(self._events) < self.batch_size and delay > 0:
                        wake.wait(delay)
                stopping = self._stopping
            now = time.monotonic()
            if stopping:
                return
            if now >= next_refresh:
                ok = self._refresh()
                next_refresh = now + (
                    self.refresh_interval if ok else backoff(failures)
                )
            if now >= next_flush or len(self._events) >= self.batch_size:
                if self.send_all():
                    failures, next_flush = 0, now + self.flush_interval
                else:
                    failures += 1
                    next_flush = now + backoff(failures)

    # -- sending ----------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """Whether anything is queued."""
        return bool(self._exposures or self._events)

    def send_all(self) -> bool:
        """Send queued exposures and events in batches; False if one failed."""
        return self._send_exposures() and self._send_events()

    def _send_exposures(self) -> bool:
        while self._exposures:
            batch = [
                self._exposures[i]
                for i in range(min(len(self._exposures), self.batch_size))
            ]
            body = {"exposures": [{"experiment": k, "user_id": u} for k, u in batch]}
            try:
                status, _, raw = self._request("POST", "/sdk/exposures", body, None)
            except Exception as exc:
                logger.warning("abflask exposures not sent: %s", exc)
                return False
            if status >= 500 or status == 429:
                return False
            for _ in batch:
                self._exposures.popleft()
            if status != 200:
                logger.error(
                    "abflask exposures rejected: HTTP %d %s", status, raw[:200]
                )
                continue
            for item in json.loads(raw)["assignments"]:
                self._on_assignment(item)
        return True

    def _send_events(self) -> bool:
        while self._events:
            batch: list[dict[str, Any]] = []
            while self._events and len(batch) < self.batch_size:
                body = self._event_body(self._events.popleft())
                if body is not None:
                    batch.append(body)
            if not batch:
                continue
            try:
                status, _, raw = self._request(
                    "POST", "/track/batch", {"events": batch}, None
                )
            except Exception as exc:
                logger.warning("abflask events not sent (will retry): %s", exc)
                status, raw = 0, b""
            if status == 0 or status >= 500 or status == 429:
                # Back to the front, as built: a resend keeps its event ids,
                # so the service stores each event once.
                self._events.extendleft(reversed(batch))
                return False
            if status != 202:
                logger.error("abflask events rejected: HTTP %d %s", status, raw[:200])
        return True

    def _event_body(self, item: Any) -> dict[str, Any] | None:
        """The JSON of one queued event, validated here (off the caller's path)."""
        if isinstance(item, dict):
            return item  # built on an earlier, failed attempt
        event, user, value, properties, at = item
        body = {
            "user_id": user,
            "event": event,
            "timestamp": at,
            "event_id": uuid.uuid4().hex,
        }
        if value is not None:
            body["value"] = value
        if properties:
            body["properties"] = properties
        try:
            parse_event(body, time.time())
        except ValidationError as exc:
            self.dropped += 1
            logger.error("abflask event dropped: %s", exc.message)
            return None
        return body

    # -- lifecycle -------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Send everything queued now, from the calling thread; False if it failed."""
        deadline = time.monotonic() + timeout
        while self.pending:
            if self.send_all():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return True

    def close(self, timeout: float) -> None:
        """Stop the thread and flush what is queued, within ``timeout``."""
        with self._wake:
            if self._closed:
                return
            self._closed = self._stopping = True
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.flush(max(0.0, deadline - time.monotonic()))
