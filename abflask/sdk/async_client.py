"""The asyncio SDK (FastAPI, Starlette, aiohttp): same decisions, async reporting.

``AsyncClient`` decides exactly as ``Client`` does (the same ``Decider`` over
the same snapshot, hashing with ``abflask.core``): ``variation``,
``is_feature_on`` and ``get_feature_value`` are plain, non-blocking methods
with no I/O. One background task refreshes the snapshot and is the only
sender of exposures and events, with the same outbox, schedule and backoff
as the sync client's thread.
Stdlib only: the default transport speaks HTTP/1.1 over asyncio streams.

Use it from one event loop::

    async with AsyncClient("https://ab.example.com", sdk_key) as ab:
        ab.variation("checkout", user_id)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from abflask.sdk.aio_transport import AsyncHTTPTransport, AsyncTransport
from abflask.sdk.decider import NO_ATTRIBUTES, Decider, User
from abflask.sdk.outbox import Answer, Outbox, Settled, Verdict
from abflask.sdk.schedule import Clock, Schedule, SystemClock, backoff

logger = logging.getLogger(__name__)


class AsyncClient(Decider):
    """Local evaluation of experiments and flags; reporting from one task.

    Call its methods from the event loop that runs it. ``await start()`` (or
    ``async with``) fetches the configuration and starts the task; it also
    starts by itself on the first exposure or event queued inside a loop.
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
        transport: AsyncTransport | None = None,
        timeout: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-SDK-Key": sdk_key, "Content-Type": "application/json"}
        self.batch_size, self.max_queue, self.timeout = batch_size, max_queue, timeout
        self._transport: AsyncTransport = transport or AsyncHTTPTransport()
        self._clock = clock or SystemClock()
        self._outbox = Outbox(batch_size, max_queue, self._remember)
        self._schedule = Schedule(
            refresh_interval, flush_interval, batch_size, self._clock.monotonic()
        )
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._round_done: asyncio.Event | None = None
        self._closing = False
        self._deadline = 0.0

    @property
    def dropped(self) -> int:
        """Events and exposures never delivered (see ``Client.dropped``)."""
        return self._outbox.dropped

    @property
    def abandoned(self) -> int:
        """Exposures given up because their experiment stopped running."""
        return self._outbox.abandoned

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Fetch the configuration (unless held already) and start the task."""
        if self._snapshot is None:
            await self.refresh()
        self._start()

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _start(self) -> bool:
        """Start the task if a loop runs here; False once closed."""
        if self._closing:
            return False
        if self._task is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop yet: queued, sent once started
                return True
            self._wake, self._round_done = asyncio.Event(), asyncio.Event()
            self._task = loop.create_task(self._run(), name="abflask-sdk")
        return True

    async def flush(self, timeout: float = 5.0) -> bool:
        """Have the task send everything now; wait at most ``timeout`` seconds."""
        deadline = self._clock.monotonic() + timeout
        if not self._outbox.busy:
            return True
        if not self._start() or self._wake is None or self._round_done is None:
            return False
        self._schedule.send_now = True
        self._wake.set()
        while self._outbox.busy:
            left = deadline - self._clock.monotonic()
            if left <= 0 or self._closing:
                return False
            self._round_done.clear()
            try:
                await asyncio.wait_for(self._round_done.wait(), left)
            except TimeoutError:
                return False
        return True

    async def aclose(self, timeout: float = 5.0) -> None:
        """Send what is queued and stop, returning within ``timeout`` seconds.

        The task is cancelled (a batch in flight goes back to its queue);
        this coroutine sends what is left, then counts the rest in ``dropped``.
        """
        if self._closing:
            return
        self._closing = True
        self._deadline = self._clock.monotonic() + timeout
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=max(0.0, timeout))
        try:
            await asyncio.wait_for(self._drain(), max(0.0, self._left()))
        except TimeoutError:
            pass
        self._outbox.give_up()
        if isinstance(self._transport, AsyncHTTPTransport):
            self._transport.close()

    # -- queueing: never blocks ----------------------------------------------------

    def _expose(
        self, cell: tuple[str, str], attributes: Mapping[str, Any] = NO_ATTRIBUTES
    ) -> None:
        outbox = self._outbox
        if not self._start():
            outbox.drop(1, "exposures made after aclose()")
            return
        exposures = outbox.exposures
        if len(exposures) >= self.max_queue:
            outbox.drop(1, "exposures: the queue is full")
            return
        self._mark_exposed(cell)
        # A copy: the service must decide with the attributes decided with.
        exposures.append((*cell, dict(attributes)) if attributes else cell)
        if len(exposures) == self.batch_size and self._wake is not None:
            self._wake.set()

    def track(
        self,
        event: str,
        user: str | User,
        value: float | None = None,
        **properties: Any,
    ) -> None:
        """Queue an event; never blocks (see ``Client.track``)."""
        if isinstance(user, User):
            properties = {**user.properties, **properties}
            user = user.id
        outbox = self._outbox
        if not self._start():
            outbox.drop(1, "events tracked after aclose()")
            return
        events = outbox.events
        if len(events) >= self.max_queue:
            outbox.drop(1, "events: the queue is full")
            return
        events.append((event, user, value, properties, time.time()))
        if len(events) == self.batch_size and self._wake is not None:
            self._wake.set()

    # -- I/O: the task -----------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        body: Any,
        headers: Mapping[str, str] | None,
        timeout: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        return await self._transport(
            method,
            self.base_url + path,
            {**self._headers, **(headers or {})},
            data,
            timeout,
        )

    async def refresh(self) -> bool:
        """Fetch the configuration now (If-None-Match); False on failure."""
        try:
            answer = await self._request(
                "GET", "/sdk/config", None, self._config_headers(), self.timeout
            )
        except Exception as exc:  # network, timeout: keep the last good one
            self._log("config", "abflask config fetch failed: %r", exc)
            return False
        return self._apply_config(*answer)

    def _left(self) -> float:
        return self._deadline - self._clock.monotonic()

    async def _run(self) -> None:
        assert self._wake is not None and self._round_done is not None
        schedule, outbox = self._schedule, self._outbox
        while True:
            now = self._clock.monotonic()
            exposures, events = len(outbox.exposures), len(outbox.events)
            wait = schedule.due(now, exposures, events) - now
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            await self._step(now)
            self._round_done.set()

    async def _step(self, now: float) -> None:
        """One guarded iteration: refresh and/or send when due, then plan again."""
        schedule, outbox, clock = self._schedule, self._outbox, self._clock
        try:
            if now >= schedule.next_refresh:
                schedule.refreshed(clock.monotonic(), await self.refresh())
            exposures, events = len(outbox.exposures), len(outbox.events)
            if schedule.send_at(now, exposures, events) <= now:
                settled = await self._round(lambda: self.timeout)
                schedule.sent(clock.monotonic(), settled)
                if settled.verdict is Verdict.DONE:
                    outbox.calm()
        except Exception as exc:  # whatever it is, the task must go on
            outbox.log("loop", "abflask background task error (will retry): %r", exc)
            logger.debug("abflask background task error", exc_info=True)
            schedule.sent(clock.monotonic(), Settled(Verdict.FAILED))
            if now >= schedule.next_refresh:
                schedule.refreshed(clock.monotonic(), False)

    async def _round(self, limit: Any) -> Settled:
        """Drive one ``outbox.round`` (see ``reporter.send_round``)."""
        outbox = self._outbox
        plan = outbox.round(self._running)
        try:
            path, body = next(plan)
            while True:
                path, body = plan.send(await self._post(path, body, limit()))
        except StopIteration as done:
            result: Settled = done.value
            return result
        finally:
            plan.close()  # cancelled mid-request: the batch goes back

    async def _post(self, path: str, body: Any, seconds: float) -> Answer:
        if seconds <= 0:
            return None, {}, b""
        try:
            status, headers, raw = await self._request(
                "POST", path, body, None, seconds
            )
        except Exception as exc:  # refused, reset, timed out: retried later
            self._outbox.log(path, "abflask %s not sent (will retry): %r", path, exc)
            return None, {}, b""
        if status >= 300:
            self._outbox.log(path, "abflask %s: HTTP %d %r", path, status, raw[:200])
        return status, headers, raw

    async def _drain(self) -> None:
        """Closing: send what is left, with backoff, until the deadline."""
        failures = 0
        while self._outbox.busy and self._left() > 0:
            try:
                settled = await self._round(lambda: min(self.timeout, self._left()))
            except Exception as exc:
                self._outbox.log("loop", "abflask close: %r", exc)
                settled = Settled(Verdict.FAILED)
            if settled.verdict is Verdict.DONE:
                continue
            failures += 1
            pause = min(backoff(failures, 0.5), self._left())
            if pause > 0:
                await asyncio.sleep(pause)
