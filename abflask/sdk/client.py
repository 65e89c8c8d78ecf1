"""The Python SDK: decide variations and flags in-process, report in the background.

``Client.variation`` and ``Client.is_feature_on`` read an immutable snapshot
of the service's configuration and hash locally (``abflask.core``, the same
code as the service): no I/O per call, and they never raise. One background
thread refreshes the snapshot (with ETag) and sends exposures and events in
batches. Imports only the stdlib and abflask's pure modules, never Flask or
redis.

Sticky rule: the service is the store of truth. The first time this process
evaluates a user in a running experiment it answers from the hash (which is
what the service stores for a new user) and queues an exposure; the
service's answer to that exposure (the stored, sticky variation) is cached
and served from then on. So the SDK and ``/process_user`` agree except on
the first call for a user who was enrolled before the experiment's weights
were changed, or who falls beyond a reached enrollment cap.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from abflask.core import bucketing
from abflask.core.outcomes import Outcome, Reason
from abflask.sdk.reporter import Reporter
from abflask.sdk.snapshot import Snapshot
from abflask.sdk.transport import HTTPTransport, Transport

logger = logging.getLogger(__name__)

__all__ = ["Client", "Decision", "Reason", "User"]

CACHE_SIZE = 100_000
"""Users remembered per cache (exposures sent, stored assignments)."""


@dataclass(frozen=True)
class User:
    """A user: an id and optional properties (sent with tracked events).

    >>> User("u-42", {"plan": "pro"}).id
    'u-42'
    """

    id: str
    properties: Mapping[str, Any] = field(default_factory=dict)


class Decision(NamedTuple):
    """A variation or flag value with the reason for it.

    A NamedTuple, not a dataclass: one is built on every call, and tuples
    are several times cheaper to make.
    """

    value: Any
    reason: Reason
    in_experiment: bool = False


def _user_id(user: str | User) -> str:
    return user.id if isinstance(user, User) else str(user)


def _bounded_put(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """Insert, evicting the oldest entry beyond CACHE_SIZE.

    An OrderedDict: popping a plain dict's first key again and again makes
    finding the next first key slower each time (it skips deleted slots).
    """
    if len(cache) >= CACHE_SIZE:
        try:
            cache.popitem(last=False)
        except KeyError:  # emptied by another thread meanwhile
            pass
    cache[key] = value


class Client:
    """Local evaluation of experiments and flags; batched, retried reporting.

    Safe under threads, and under fork: a client created before gunicorn or
    uWSGI forks starts its background thread lazily in each process, and a
    forked child starts afresh with empty queues.
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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-SDK-Key": sdk_key, "Content-Type": "application/json"}
        self.refresh_interval, self.flush_interval = refresh_interval, flush_interval
        self.batch_size, self.max_queue, self.timeout = batch_size, max_queue, timeout
        self._transport: Transport = transport or HTTPTransport()
        self._snapshot: Snapshot | None = None
        self._assigned: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._exposed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._reset()
        ref = weakref.ref(self)

        def in_child() -> None:
            client = ref()
            if client is not None:
                client._after_fork()

        def at_exit() -> None:
            client = ref()
            if client is not None:
                client.close(timeout=2.0)

        os.register_at_fork(after_in_child=in_child)
        atexit.register(at_exit)
        if initial_fetch:
            self.refresh()

    def _reset(self) -> None:
        self._reporter = Reporter(
            self._request,
            self.refresh,
            self._remember,
            refresh_interval=self.refresh_interval,
            flush_interval=self.flush_interval,
            batch_size=self.batch_size,
            max_queue=self.max_queue,
        )
        self._pid = os.getpid()

    @property
    def dropped(self) -> int:
        """Events and exposures this process gave up on (queue full, rejected)."""
        return self._reporter.dropped

    def after_fork(self) -> None:
        """Call in a child process if your server forks without ``os.fork``.

        ``os.fork`` (gunicorn, multiprocessing) runs this by itself. uWSGI
        forks from C: register it with ``uwsgidecorators.postfork``. A no-op in
        the process that started the background thread, and after a reset.
        """
        if os.getpid() != self._pid:
            self._after_fork()

    def _after_fork(self) -> None:
        """In a forked child: no thread, fresh locks, empty queues."""
        self._reset()
        if isinstance(self._transport, HTTPTransport):
            self._transport = HTTPTransport()

    # -- decisions: no I/O, never raise --------------------------------------

    def variation(
        self, experiment_key: str, user: str | User, default: str = "control"
    ) -> str:
        """The variation name to show ``user``; ``default`` if undecidable."""
        return self._decide(experiment_key, user, default)[0]  # type: ignore[no-any-return]

    def variation_detail(
        self, experiment_key: str, user: str | User, default: str = "control"
    ) -> Decision:
        """``variation`` with the reason for the answer."""
        return Decision(*self._decide(experiment_key, user, default))

    def _decide(
        self, key: str, user: str | User, default: str
    ) -> tuple[Any, Reason, bool]:
        # The hot path: plain tuples, and the exposure bookkeeping inline.
        try:
            snap = self._snapshot
            if snap is None:
                return default, Reason.NO_CONFIG, False
            exp = snap.experiments.get(key)
            if exp is None:
                return default, Reason.UNKNOWN, False
            if exp.winner is not None:
                return exp.variations[exp.winner], Reason.WINNER, False
            if not exp.running:
                return exp.variations[0], Reason.NOT_RUNNING, False
            user_id = user if type(user) is str else _user_id(user)
            cell = (key, user_id)
            if self._assigned:
                stored = self._assigned.get(cell)
                if stored is not None:
                    if stored < 0:
                        return exp.variations[0], Reason.EXCLUDED, False
                    return exp.variations[stored], Reason.STORED, True
            if cell not in self._exposed:
                self._expose(cell)
            index = bucketing.decide(exp.split, user_id)
            if index < 0:
                return exp.variations[0], Reason.EXCLUDED, False
            return exp.variations[index], Reason.ASSIGNED, True
        except Exception:  # the SDK must never take the caller down
            logger.exception("variation(%r) failed; serving the default", key)
            return default, Reason.ERROR, False

    def is_feature_on(self, feature_key: str, user: str | User) -> bool:
        """Whether the flag is on for ``user``; False if undecidable."""
        return bool(self.is_feature_on_detail(feature_key, user).value)

    def is_feature_on_detail(self, feature_key: str, user: str | User) -> Decision:
        """``is_feature_on`` with the reason for the answer."""
        try:
            snap = self._snapshot
            if snap is None:
                return Decision(False, Reason.NO_CONFIG)
            flag = snap.flags.get(feature_key)
            if flag is None:
                return Decision(False, Reason.UNKNOWN)
            if not flag.enabled:
                return Decision(False, Reason.FLAG_OFF)
            user_id = user if type(user) is str else _user_id(user)
            if bucketing.in_rollout(user_id, flag.seed, flag.rollout):
                return Decision(True, Reason.FLAG_ON)
            return Decision(False, Reason.NOT_IN_ROLLOUT)
        except Exception:
            logger.exception("is_feature_on(%r) failed; serving False", feature_key)
            return Decision(False, Reason.ERROR)

    # -- reporting: queue now, send later ------------------------------------

    def _expose(self, cell: tuple[str, str]) -> None:
        exposed = self._exposed
        if len(exposed) >= CACHE_SIZE:
            _bounded_put(exposed, cell, None)
        else:
            exposed[cell] = None
        self._reporter.expose(cell)

    def track(
        self,
        event: str,
        user: str | User,
        value: float | None = None,
        **properties: Any,
    ) -> None:
        """Queue an event; never blocks. A full queue drops it (counted, logged)."""
        if isinstance(user, User):
            properties = {**user.properties, **properties}
            user = user.id
        self._reporter.track(event, user, value, properties)

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        return self._transport(
            method,
            self.base_url + path,
            {**self._headers, **(headers or {})},
            data,
            self.timeout,
        )

    def refresh(self) -> bool:
        """Fetch the configuration now (If-None-Match); False on failure.

        On failure the last good snapshot stays in use.
        """
        etag = self._snapshot.etag if self._snapshot else ""
        try:
            status, headers, body = self._request(
                "GET", "/sdk/config", headers={"If-None-Match": etag} if etag else None
            )
            if status == 304:
                return True
            if status != 200:
                logger.warning("abflask config fetch: HTTP %d %s", status, body[:200])
                return False
            tag = next((v for k, v in headers.items() if k.lower() == "etag"), "")
            self._snapshot = Snapshot.parse(body, tag.strip('"'))
            return True
        except Exception as exc:  # network, bad JSON: keep the last good one
            logger.warning("abflask config fetch failed: %s", exc)
            return False

    def _remember(self, item: Mapping[str, Any]) -> None:
        snap = self._snapshot
        exp = snap.experiments.get(item["experiment"]) if snap else None
        if exp is None or item["variation"] is None:
            return
        cell = (item["experiment"], item["user_id"])
        if item["reason"] in (Outcome.STICKY, Outcome.ENROLLED):
            _bounded_put(self._assigned, cell, exp.variations.index(item["variation"]))
        elif item["reason"] == Outcome.FULL:  # the cap never un-fills: control for good
            _bounded_put(self._assigned, cell, -1)

    # -- lifecycle -------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Send everything queued now, from the calling thread; False if it failed."""
        return self._reporter.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the background thread and flush what is queued, within ``timeout``."""
        self._reporter.close(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
