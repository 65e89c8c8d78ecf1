"""The SDK's outgoing queues and what the service's answers mean: no I/O, no threads.

Both senders (the sync client's thread, the async client's task) take batches
from an ``Outbox``, send them, and hand each answer to ``settle_*``, which
decides what is done, what goes back to the front of its queue, in order, and
what is dropped (counted). Callers append from any thread (deque appends are
atomic); only the one sender takes, puts back and settles.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Mapping
from typing import Any, NamedTuple

from abflask.core.conditions import check_attributes
from abflask.core.event import parse_event
from abflask.core.outcomes import FINAL_OUTCOMES
from abflask.errors import ValidationError

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 425, 429})
"""4xx statuses worth retrying (every 5xx is, and any unexpected 2xx)."""

Cell = tuple[str, str]
"""``(experiment_key, user_id)``: one exposure."""
Exposure = tuple[str, str] | tuple[str, str, Mapping[str, Any]]
"""A queued exposure: a ``Cell``, or a cell and the user's attributes."""
Answer = tuple[int | None, Mapping[str, str], bytes]
"""``(status, headers, body)`` of one POST; status None: it was not sent."""


def is_final(entry: Mapping[str, Any]) -> bool:
    """Whether an ``/sdk/exposures`` entry settles its exposure.

    The service says so with ``"final"``; an older service that does not is
    trusted only for the reasons that are final by nature (core's
    ``FINAL_OUTCOMES``: ``not_targeted`` among them).
    """
    final = entry.get("final")
    if isinstance(final, bool):
        return final
    return entry.get("reason") in FINAL_OUTCOMES


def retryable(status: int | None) -> bool:
    """Whether a batch answered ``status`` (None: it was not sent) may be resent."""
    return status is None or status >= 500 or status in RETRYABLE or status < 400


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds of a ``Retry-After`` header (delta form only), if any."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


class RateLimitedLog:
    """Warnings at most once per ``every`` seconds per kind, with a skipped count."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(kind, (-self.every, 0))
        if now - last < self.every:
            self._last[kind] = (last, skipped + 1)
            return
        self._last[kind] = (now, 0)
        if skipped:
            message += " (%d similar messages skipped)"
            args = (*args, skipped)
        logger.warning(message, *args)


class Verdict(enum.Enum):
    """What a settled batch means for the sender's schedule."""

    DONE = "done"
    """Delivered (or dropped for good): carry on."""
    PARTIAL = "partial"
    """Some exposures are not final yet: carry on, back off before retrying them."""
    FAILED = "failed"
    """Nothing delivered, all put back: stop this round and back off."""


class Settled(NamedTuple):
    verdict: Verdict
    retry_after: float | None = None


class Outbox:
    """Queued exposures and events, and the bookkeeping of one sending round.

    A round is ``begin_exposures``, ``take_exposures``/``settle_exposures``
    until empty or failed, ``begin_events`` (after the exposures, so a user
    whose exposure is still pending is known), ``take_events``/``settle_events``,
    then ``end_round`` puts back whatever was not delivered, in order.
    """

    def __init__(
        self,
        batch_size: int,
        max_queue: int,
        on_assignment: Callable[[Mapping[str, Any]], None],
    ) -> None:
        self.batch_size, self.max_queue = batch_size, max_queue
        self._on_assignment = on_assignment
        self.log = RateLimitedLog()
        self.events: deque[Any] = deque()  # raw tuples, or bodies built earlier
        self.exposures: deque[Exposure] = deque()
        self.dropped = 0
        """Events and exposures that will never be delivered."""
        self.abandoned = 0
        """Pending exposures given up on: their experiment stopped running."""
        self._count = threading.Lock()
        self._burst = 0
        self._exposure_budget = self._event_budget = 0
        self._retry: list[Exposure] = []
        self._held: list[tuple[int, Any]] = []
        self._failed: list[tuple[int, Any]] = []
        self._pending_users: set[str] = set()
        self._popped = 0
        self._lock = threading.RLock()  # the sender's bookkeeping vs give_up()
        self._in_flight = 0
        self._in_round = False
        self.given_up = False
        """Everything left was counted as dropped: nothing more is sent."""

    # -- from the callers' threads ---------------------------------------------

    def drop(self, n: int, why: str) -> None:
        """Count ``n`` items never delivered; log once per burst of drops."""
        with self._count:
            self.dropped += n
            first = self._burst == 0
            self._burst += n
        if first:
            logger.warning(
                "abflask: dropping %s (%d dropped so far, see client.dropped)",
                why,
                self.dropped,
            )

    def calm(self) -> None:
        """A round went through: the next drop starts a new burst."""
        with self._count:
            burst, self._burst = self._burst, 0
        if burst > 1:
            logger.warning("abflask: %d items dropped in that burst", burst)

    @property
    def busy(self) -> bool:
        """Whether anything is queued, or a round is under way."""
        return bool(self._in_round or self.exposures or self.events)

    # -- exposures --------------------------------------------------------------

    def begin_exposures(self, running: Callable[[str], bool]) -> None:
        """Start a round over the exposures queued now; drop non-running ones."""
        with self._lock:
            self._in_round = True
            self._running = running
            self._exposure_budget = len(self.exposures)
            self._retry = []

    def take_exposures(self) -> list[Exposure]:
        """Pop the next batch (empty when this round's budget is spent)."""
        batch: list[Exposure] = []
        with self._lock:
            while self._exposure_budget > 0 and len(batch) < self.batch_size:
                self._exposure_budget -= 1
                item = self.exposures.popleft()
                if not self._running(item[0]):
                    self.abandoned += 1
                elif len(item) == 2 or self._valid(item):
                    batch.append(item)
            self._in_flight = len(batch)
        return batch

    @staticmethod
    def exposure_body(batch: list[Exposure]) -> dict[str, Any]:
        """The ``/sdk/exposures`` body: attributes only for users who have them."""
        entries: list[dict[str, Any]] = []
        for item in batch:
            entry: dict[str, Any] = {"experiment": item[0], "user_id": item[1]}
            if len(item) == 3:
                entry["attributes"] = item[2]
            entries.append(entry)
        return {"exposures": entries}

    def _valid(self, item: tuple[str, str, Mapping[str, Any]]) -> bool:
        """Whether the service will take the attributes (``check_attributes``);
        if not, the exposure is dropped and counted: one bad user must not
        cost the whole batch a 400."""
        try:
            check_attributes(item[2])
        except ValidationError as exc:
            self.drop(1, f"an exposure with invalid attributes ({exc.message})")
            return False
        return True

    def settle_exposures(
        self,
        batch: list[Exposure],
        status: int | None,
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Settled:
        """Apply the answer to ``batch`` (``status`` None: it was not sent)."""
        with self._lock:
            self._in_flight = 0
            return self._settle_exposures(batch, status, headers, raw)

    def _settle_exposures(
        self,
        batch: list[Exposure],
        status: int | None,
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Settled:
        if status == 200:
            try:
                entries = json.loads(raw)["assignments"]
                answered = {(e["experiment"], e["user_id"]): e for e in entries}
            except (ValueError, KeyError, TypeError) as exc:
                logger.debug("abflask: unreadable exposures answer: %r", exc)
                self._retry.extend(batch)
                return Settled(Verdict.FAILED)
            again = [c for c in batch if not is_final(answered.get(c[:2], {}))]
            for item in batch:
                entry = answered.get(item[:2])
                if entry is not None and is_final(entry):
                    try:
                        self._on_assignment(entry)
                    except Exception:  # a bad entry must not undo the batch
                        self.log("assignment", "abflask: bad exposure answer %r", entry)
            self._retry.extend(again)
            return Settled(Verdict.PARTIAL if again else Verdict.DONE)
        if retryable(status):
            self._retry.extend(batch)
            return Settled(Verdict.FAILED, retry_after(headers))
        return self._rejected("exposures", len(batch), status, raw)

    def end_exposures(self) -> None:
        """Put what is still pending back at the front, in order."""
        with self._lock:
            if not self.given_up:
                self.exposures.extendleft(reversed(self._retry))
            self._retry = []

    # -- events -------------------------------------------------------------------

    def begin_events(self) -> None:
        """Start a round over the events queued now.

        Read the queue's length first: every event counted here was queued
        after its user's exposure, which is therefore already visible below.
        """
        with self._lock:
            self._event_budget = len(self.events)
            self._pending_users = {item[1] for item in self.exposures}
            self._held, self._failed = [], []

    def take_events(self) -> list[tuple[int, dict[str, Any]]]:
        """Pop the next batch of event bodies, holding back pending users' events."""
        batch: list[tuple[int, dict[str, Any]]] = []
        pending = self._pending_users
        with self._lock:
            while self._event_budget > 0 and len(batch) < self.batch_size:
                self._event_budget -= 1
                item = self.events.popleft()
                self._popped += 1
                user = item["user_id"] if isinstance(item, dict) else item[1]
                if user in pending:
                    self._held.append((self._popped, item))
                    continue
                body = self._event_body(item)
                if body is not None:
                    batch.append((self._popped, body))
            self._in_flight = len(batch)
        return batch

    def settle_events(
        self,
        batch: list[tuple[int, dict[str, Any]]],
        status: int | None,
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Settled:
        """Apply the answer to an events batch (``status`` None: not sent)."""
        with self._lock:
            self._in_flight = 0
            if self.given_up:
                return Settled(Verdict.DONE)
            return self._settle_events(batch, status, headers, raw)

    def _settle_events(
        self,
        batch: list[tuple[int, dict[str, Any]]],
        status: int | None,
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Settled:
        if status == 202:
            return Settled(Verdict.DONE)
        if retryable(status):
            self._failed.extend(batch)  # a resend keeps its event ids
            return Settled(Verdict.FAILED, retry_after(headers))
        return self._rejected("events", len(batch), status, raw)

    def _rejected(
        self, what: str, count: int, status: int | None, raw: bytes
    ) -> Settled:
        """A batch the service refused for good (4xx): dropped, counted, logged."""
        self.drop(count, f"{what} the service rejected (HTTP {status})")
        logger.error("abflask %s rejected: HTTP %s %r", what, status, raw[:200])
        return Settled(Verdict.DONE)

    def end_round(self) -> None:
        """Put held and failed events back at the front, in their queue order."""
        with self._lock:
            back = sorted(self._held + self._failed, key=lambda pair: pair[0])
            if not self.given_up:
                self.events.extendleft(item for _, item in reversed(back))
            self._held, self._failed, self._event_budget = [], [], 0
            self.end_exposures()
            self._exposure_budget = 0
            self._in_round = False

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
            self.drop(1, f"an invalid event ({exc.message})")
            return None
        return body

    def round(
        self, running: Callable[[str], bool]
    ) -> Generator[tuple[str, Any], Answer, Settled]:
        """One sending round as a plan: yields ``(path, body)`` to POST, takes
        each ``Answer``, returns the worst verdict. Every queued exposure goes
        first, then the events it does not hold back. Closing the plan early
        (a cancelled task) puts the batch in flight back, unsent."""
        worst = Settled(Verdict.DONE)
        try:
            self.begin_exposures(running)
            while batch := self.take_exposures():
                answer: Answer = None, {}, b""
                try:
                    answer = yield "/sdk/exposures", self.exposure_body(batch)
                finally:
                    settled = self.settle_exposures(batch, *answer)
                if settled.verdict is Verdict.FAILED:
                    return settled
                if settled.verdict is Verdict.PARTIAL:
                    worst = settled
            self.end_exposures()
            self.begin_events()
            while events := self.take_events():
                answer = None, {}, b""
                try:
                    answer = yield "/track/batch", {"events": [e for _, e in events]}
                finally:
                    settled = self.settle_events(events, *answer)
                if settled.verdict is Verdict.FAILED:
                    return settled
            return worst
        finally:
            self.end_round()

    # -- giving up ------------------------------------------------------------------

    def give_up(self) -> int:
        """Count everything not delivered yet as dropped, once; send nothing more.

        A batch in flight counts too: if it lands after all, ``dropped``
        over-counts it (a transport that ignores its timeout).
        """
        with self._lock:
            if self.given_up:
                return 0
            self.given_up = True
            n = len(self.events) + len(self.exposures) + self._in_flight
            n += len(self._held) + len(self._failed) + len(self._retry)
            self.events.clear()
            self.exposures.clear()
        if n:
            with self._count:
                self.dropped += n
            logger.warning(
                "abflask: %d events and exposures not delivered before the "
                "timeout (counted in client.dropped)",
                n,
            )
        return n
