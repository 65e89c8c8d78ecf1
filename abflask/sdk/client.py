"""The sync Python SDK: decide in-process, report in the background.

``Client.variation``, ``Client.is_feature_on`` and ``Client.get_feature_value``
read an immutable snapshot of the service's configuration, test targeting and
hash locally (``abflask.sdk.decider``): no I/O per call, and they never raise.
One background thread (``reporter``) refreshes the snapshot and is the only
sender of exposures and events.
Imports only the stdlib and abflask's pure modules, never Flask or redis.
"""

from __future__ import annotations

import atexit
import json
import os
import time
import weakref
from collections.abc import Mapping
from os import getpid
from time import time as now
from typing import Any

from abflask.core.outcomes import Reason
from abflask.sdk.decider import NO_ATTRIBUTES, Decider, Decision, User, user_id_of
from abflask.sdk.outbox import Outbox
from abflask.sdk.reporter import Reporter
from abflask.sdk.schedule import Clock
from abflask.sdk.transport import HTTPTransport, Transport

__all__ = ["Client", "Decision", "HTTPTransport", "Reason", "User"]

EXIT_TIMEOUT = 2.0
"""Seconds all live clients together get to deliver their queues at exit."""

_LIVE: weakref.WeakSet[Client] = weakref.WeakSet()
"""Every open client, for the one exit hook below (weak: no client is kept)."""


@atexit.register
def _close_all() -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    for client in list(_LIVE):
        client.close(timeout=max(0.0, deadline - time.monotonic()))


class Client(Decider):
    """Local evaluation of experiments and flags; batched, retried reporting.

    Safe under threads, and under fork: each call that queues notices a new
    process by its pid (as redis-py's connection pool does) and starts
    afresh there, with empty queues and its own thread. ``clock`` drives
    the reporter's schedule (tests pass a fake one).
    """

    def __init__(
        self,
        base_url: str,
        sdk_key: str,
        *,
        refresh_interval: float = 30.0,
        flush_interval: float = 5.0,
        batch_size: int = 500,
        max_queue: int = 10_000,
        transport: Transport | None = None,
        timeout: float = 5.0,
        initial_fetch: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-SDK-Key": sdk_key, "Content-Type": "application/json"}
        self.refresh_interval, self.flush_interval = refresh_interval, flush_interval
        self.batch_size, self.max_queue, self.timeout = batch_size, max_queue, timeout
        self._default_transport = transport is None
        self._transport: Transport = transport or HTTPTransport()
        self._clock = clock
        self._reset()
        _LIVE.add(self)
        if initial_fetch:
            self.refresh()

    def _reset(self) -> None:
        self._outbox = Outbox(self.batch_size, self.max_queue, self._remember)
        self._events = self._outbox.events
        self._reporter = Reporter(
            self._outbox,
            self._post,
            self.refresh,
            self._running,
            refresh_interval=self.refresh_interval,
            flush_interval=self.flush_interval,
            timeout=self.timeout,
            clock=self._clock,
        )
        self._pid = os.getpid()

    @property
    def dropped(self) -> int:
        """Events and exposures never delivered: queue full, rejected by the
        service, tracked after ``close()``, or left when a close timed out."""
        return self._outbox.dropped

    @property
    def abandoned(self) -> int:
        """Exposures given up unconfirmed because their experiment stopped
        running (per this process's snapshot) before the service enrolled them."""
        return self._outbox.abandoned

    def after_fork(self) -> None:
        """Start afresh if this is a forked child; a no-op otherwise.

        Never needed: every call that queues checks the pid itself. Kept for
        servers that call a post-fork hook (uWSGI's ``postfork``).
        """
        if os.getpid() != self._pid:
            self._after_fork()

    def _after_fork(self) -> None:
        """In a forked child: no thread, fresh locks, empty queues.

        The parent delivers what it queued; the child exposes its users
        again (the service answers repeats with the sticky variation), so
        it holds their events until it has its own confirmation.
        """
        self._exposed.clear()
        if self._default_transport:
            self._transport = HTTPTransport()
        self._reset()

    # -- queueing: from the caller's thread, never blocks ------------------------

    def _expose(
        self, cell: tuple[str, str], attributes: Mapping[str, Any] = NO_ATTRIBUTES
    ) -> None:
        if self._pid != getpid():
            self._after_fork()
        reporter, outbox = self._reporter, self._outbox
        if not reporter.live and not reporter.start():
            outbox.drop(1, "exposures made after close()")
            return
        exposures = outbox.exposures
        if len(exposures) >= self.max_queue:
            outbox.drop(1, "exposures: the queue is full")
            return  # not marked: the next call for this user tries again
        self._mark_exposed(cell)
        # A copy: the service must decide with the attributes decided with.
        exposures.append((*cell, dict(attributes)) if attributes else cell)
        if len(exposures) == self.batch_size:
            reporter.kick()

    def track(
        self,
        event: str,
        user: str | User,
        value: float | None = None,
        **properties: Any,
    ) -> None:
        """Queue an event; never blocks. A full queue drops it (counted, logged).

        An event of a user whose exposure is not confirmed yet waits for it:
        the service records events of enrolled users only.
        """
        if type(user) is not str:
            if isinstance(user, User):
                properties = {**user.properties, **properties}
            user = user_id_of(user)
        if self._pid != getpid():
            self._after_fork()
        events = self._events
        if len(events) >= self.max_queue or not self._reporter.live:
            self._track_slowly(event, user, value, properties)
            return
        events.append((event, user, value, properties, now()))
        if len(events) == self.batch_size:
            self._reporter.kick()

    def _track_slowly(
        self, event: str, user: str, value: float | None, properties: dict[str, Any]
    ) -> None:
        """``track`` with no thread yet, after close, or with a full queue."""
        reporter, outbox = self._reporter, self._outbox
        if not reporter.live and not reporter.start():
            outbox.drop(1, "events tracked after close()")
        elif len(outbox.events) >= self.max_queue:
            outbox.drop(1, "events: the queue is full")
        else:
            outbox.events.append((event, user, value, properties, now()))

    # -- I/O ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        return self._transport(
            method,
            self.base_url + path,
            {**self._headers, **(headers or {})},
            data,
            self.timeout if timeout is None else timeout,
        )

    def _post(
        self, path: str, body: Any, timeout: float
    ) -> tuple[int, Mapping[str, str], bytes]:
        return self._request("POST", path, body, timeout=timeout)

    def refresh(self) -> bool:
        """Fetch the configuration now (If-None-Match); False on failure.

        On failure the last good snapshot stays in use.
        """
        try:
            answer = self._request("GET", "/sdk/config", None, self._config_headers())
        except Exception as exc:  # network: keep the last good one
            self._log("config", "abflask config fetch failed: %r", exc)
            return False
        return self._apply_config(*answer)

    # -- lifecycle -------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Have the background thread send everything now; wait at most
        ``timeout`` seconds. True once nothing is left to send."""
        if self._pid != os.getpid():
            self._after_fork()
        return self._reporter.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued and stop, returning within ``timeout`` seconds.

        Whatever is not delivered by then is counted in ``dropped``.
        """
        _LIVE.discard(self)
        if self._pid != os.getpid():
            self._after_fork()
        self._reporter.close(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
