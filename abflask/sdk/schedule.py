"""When the SDK's sender next refreshes and sends: intervals and backoff. Pure.

Shared by the sync client's thread and the async client's task. Time comes
from a ``Clock`` (injectable, so tests drive the schedule without sleeping)
and jitter from a callable, so that nothing here reads the real clock itself.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Protocol

from abflask.sdk.outbox import Settled, Verdict

BACKOFF_BASE = 0.5
"""Seconds: the longest first retry delay."""
BACKOFF_CAP = 60.0
"""Seconds: the longest retry delay."""


class Clock(Protocol):
    """Monotonic time, and a way to wait on a condition for some of it."""

    def monotonic(self) -> float: ...

    def wait(self, condition: threading.Condition, timeout: float) -> None:
        """Wait on ``condition`` (held by the caller) at most ``timeout`` seconds."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float) -> None:
        condition.wait(timeout)


def backoff(failures: int, jitter: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: capped exponential,
    with equal jitter (``jitter`` in [0, 1) picks a point in [d/2, d]).

    Never below half the step, so the attempts are at most one per step.
    """
    step = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(max(failures, 1) - 1, 16))
    return step * (0.5 + jitter / 2)


class Schedule:
    """The next refresh, the next send and the failures behind each."""

    def __init__(
        self,
        refresh_interval: float,
        flush_interval: float,
        batch_size: int,
        now: float,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.refresh_interval, self.flush_interval = refresh_interval, flush_interval
        self.batch_size = batch_size
        # A generator of its own: never the host application's global random.
        self._jitter = jitter or random.Random().random
        self.next_refresh = now + refresh_interval
        self.next_send = now + flush_interval
        self.send_failures = self.refresh_failures = 0
        self.send_now = False
        """A flush asked for one attempt now, backoff or not."""

    def due(self, now: float, exposures: int, events: int) -> float:
        """When the sender should next wake up."""
        return min(self.next_refresh, self.send_at(now, exposures, events))

    def send_at(self, now: float, exposures: int, events: int) -> float:
        """When the next round should go: a full batch waits only for a backoff."""
        if self.send_now:
            return now
        if not self.send_failures and max(exposures, events) >= self.batch_size:
            return now
        return self.next_send

    def refreshed(self, now: float, ok: bool) -> None:
        self.refresh_failures = 0 if ok else self.refresh_failures + 1
        wait = self.refresh_interval
        if not ok:
            wait = backoff(self.refresh_failures, self._jitter())
        self.next_refresh = now + wait

    def sent(self, now: float, settled: Settled) -> None:
        """Plan the next round after one that ``settled`` so."""
        self.send_now = False
        if settled.verdict is Verdict.DONE:
            self.send_failures = 0
            self.next_send = now + self.flush_interval
            return
        self.send_failures += 1
        wait = backoff(self.send_failures, self._jitter())
        if settled.retry_after is not None:
            wait = max(wait, min(settled.retry_after, BACKOFF_CAP))
        self.next_send = now + wait
