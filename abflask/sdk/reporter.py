"""The sync client's reporter: one thread, the only sender, refreshes and sends.

The thread starts lazily on first use. It refreshes the configuration on
schedule and sends queued exposures (``POST /sdk/exposures``) and events
(``POST /track/batch``) by size or interval, backing off with jitter on any
failure however long the queue is. ``flush`` and ``close`` never send
themselves: they ask the thread and wait at most their timeout. Every loop
iteration is guarded, so the thread outlives any bad answer. One process only:
the client builds a new ``Reporter`` after a fork.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from abflask.sdk.outbox import Answer, Outbox, Settled, Verdict
from abflask.sdk.schedule import Clock, Schedule, SystemClock, backoff

logger = logging.getLogger(__name__)

Send = Callable[[str, Any, float], tuple[int, Mapping[str, str], bytes]]
"""``(path, json_body, timeout) -> (status, headers, body)``: one POST."""


def send_round(
    outbox: Outbox,
    send: Send,
    running: Callable[[str], bool],
    timeout: Callable[[], float],
) -> Settled:
    """Drive one ``outbox.round`` with ``send``; ``timeout()`` is the time the
    next request may take (at or below zero the rest is put back unsent)."""
    plan = outbox.round(running)
    try:
        request = next(plan)
        while True:
            request = plan.send(_post(outbox, send, *request, timeout()))
    except StopIteration as done:
        result: Settled = done.value
        return result
    finally:
        plan.close()


def _post(outbox: Outbox, send: Send, path: str, body: Any, seconds: float) -> Answer:
    if seconds <= 0:
        return None, {}, b""
    try:
        status, headers, raw = send(path, body, seconds)
    except Exception as exc:  # refused, reset, timed out: retried later
        outbox.log(path, "abflask %s not sent (will retry): %r", path, exc)
        return None, {}, b""
    if status >= 300:
        outbox.log(path, "abflask %s: HTTP %d %r", path, status, raw[:200])
    return status, headers, raw


class Reporter:
    """The queues' one sender: a daemon thread, and flush/close that wait on it.

    ``send`` posts one JSON body; ``refresh`` re-reads the configuration (True
    on success); ``running(key)`` says whether the current snapshot runs an
    experiment (pending exposures of others are abandoned).
    """

    def __init__(
        self,
        outbox: Outbox,
        send: Send,
        refresh: Callable[[], bool],
        running: Callable[[str], bool],
        *,
        refresh_interval: float,
        flush_interval: float,
        timeout: float,
        clock: Clock | None = None,
    ) -> None:
        self.outbox = outbox
        self._send, self._refresh, self._running = send, refresh, running
        self._timeout = timeout
        self._clock = clock or SystemClock()
        self.schedule = Schedule(
            refresh_interval,
            flush_interval,
            outbox.batch_size,
            self._clock.monotonic(),
        )
        self._cond = threading.Condition()
        self._nap = threading.Condition()
        self.thread: threading.Thread | None = None
        self.live = False
        """The thread runs and takes work: the callers' fast path."""
        self._closing = False
        self._deadline = 0.0

    # -- from the callers' threads: never blocks ------------------------------------

    def start(self) -> bool:
        """Start the thread if needed; False once closed."""
        with self._cond:
            if self._closing:
                return False
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="abflask-sdk", daemon=True
                )
                self.thread.start()
                self.live = True
            return True

    def kick(self) -> None:
        """A batch is full: wake the thread (it still honours a backoff)."""
        with self._cond:
            self._cond.notify_all()

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        clock, cond, outbox = self._clock, self._cond, self.outbox
        while True:
            with cond:
                while not self._closing:
                    now = clock.monotonic()
                    exposures, events = len(outbox.exposures), len(outbox.events)
                    wait = self.schedule.due(now, exposures, events) - now
                    if wait <= 0:
                        break
                    clock.wait(cond, wait)
                if self._closing:
                    break
            self._step()
        self._drain()

    def _step(self) -> None:
        """One guarded iteration: refresh and/or send when due, then plan again."""
        clock, schedule, outbox = self._clock, self.schedule, self.outbox
        now = clock.monotonic()
        try:
            if now >= schedule.next_refresh:
                schedule.refreshed(clock.monotonic(), self._refresh())
            exposures, events = len(outbox.exposures), len(outbox.events)
            if schedule.send_at(now, exposures, events) <= now:
                settled = send_round(outbox, self._send, self._running, self._limit)
                schedule.sent(clock.monotonic(), settled)
                if settled.verdict is Verdict.DONE:
                    outbox.calm()
        except Exception as exc:  # whatever it is, the thread must go on
            outbox.log("loop", "abflask background loop error (will retry): %r", exc)
            logger.debug("abflask background loop error", exc_info=True)
            schedule.sent(clock.monotonic(), Settled(Verdict.FAILED))
            if now >= schedule.next_refresh:
                schedule.refreshed(clock.monotonic(), False)
        finally:
            with self._cond:
                self._cond.notify_all()  # flush() waits on this

    def _limit(self) -> float:
        """The time the next request may take: less near a close deadline."""
        if self._closing:
            return min(self._timeout, self._deadline - self._clock.monotonic())
        return self._timeout

    def _drain(self) -> None:
        """Closing: send what is left until the deadline, then count the rest."""
        clock, outbox = self._clock, self.outbox
        failures = 0
        try:
            while outbox.busy and not outbox.given_up:
                now = clock.monotonic()
                if now >= self._deadline:
                    break
                settled = send_round(outbox, self._send, self._running, self._limit)
                if settled.verdict is Verdict.DONE:
                    continue
                failures += 1
                pause = min(backoff(failures, 0.5), self._deadline - clock.monotonic())
                if pause > 0:
                    with self._nap:
                        clock.wait(self._nap, pause)
        except Exception as exc:
            outbox.log("loop", "abflask close: %r", exc)
        finally:
            outbox.give_up()
            with self._cond:
                self._cond.notify_all()

    # -- flush and close: wait on the thread, never past the timeout -----------

    def flush(self, timeout: float) -> bool:
        """Have the thread send everything now; True once nothing is left."""
        clock, outbox = self._clock, self.outbox
        deadline = clock.monotonic() + timeout
        with self._cond:
            if not outbox.busy:
                return True
            if self._closing:
                return False
            self.start()  # the condition's lock is reentrant
            self.schedule.send_now = True
            self._cond.notify_all()
            while outbox.busy:
                left = deadline - clock.monotonic()
                if left <= 0 or self._closing:
                    return False
                clock.wait(self._cond, left)
            return True

    def close(self, timeout: float) -> None:
        """Stop the thread after a last round; undelivered items count as dropped."""
        clock = self._clock
        started = time.monotonic()
        with self._cond:
            if self._closing:
                return
            self._closing, self.live = True, False
            self._deadline = clock.monotonic() + timeout
            self._cond.notify_all()
            thread = self.thread
        if thread is not None:
            thread.join(max(0.0, timeout - (time.monotonic() - started)))
        self.outbox.give_up()  # a no-op when the thread finished its drain
