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
import enum
import http.client
import json
import logging
import os
import random
import threading
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from abflask import core
from abflask.errors import ValidationError
from abflask.models import parse_event

logger = logging.getLogger(__name__)

Transport = Callable[
    [str, str, Mapping[str, str], bytes | None, float],
    tuple[int, Mapping[str, str], bytes],
]
"""``(method, url, headers, body, timeout) -> (status, headers, body)``."""

BACKOFF_BASE, BACKOFF_CAP = 0.5, 60.0
"""Seconds: first retry delay and the longest one."""
CACHE_SIZE = 100_000
"""Users remembered per cache (exposures sent, stored assignments)."""


class Reason(enum.StrEnum):
    """Why a decision came out as it did."""

    ASSIGNED = "assigned"
    STORED = "stored"
    EXCLUDED = "excluded"
    NOT_RUNNING = "not_running"
    WINNER = "winner"
    FLAG_ON = "flag_on"
    FLAG_OFF = "flag_off"
    NOT_IN_ROLLOUT = "not_in_rollout"
    UNKNOWN = "unknown"
    NO_CONFIG = "no_config"
    ERROR = "error"


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


class _Exp(NamedTuple):
    variations: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    seed: str
    seed_state: int  # fnv1a32(seed): hash v2 continues from it
    hash_version: int
    namespace: tuple[str, float, float] | None
    running: bool
    winner: int | None


class _Flag(NamedTuple):
    enabled: bool
    rollout: float
    seed: str


@dataclass(frozen=True)
class Snapshot:
    """The parsed configuration; replaced whole, never mutated."""

    experiments: Mapping[str, _Exp]
    flags: Mapping[str, _Flag]
    etag: str

    @classmethod
    def parse(cls, raw: bytes, etag: str) -> Snapshot:
        data = json.loads(raw)
        exps = {
            key: _Exp(
                tuple(e["variations"]),
                tuple((float(r[0]), float(r[1])) for r in e["ranges"]),
                e["seed"],
                core.fnv1a32(e["seed"]),
                e["hash_version"],
                tuple(e["namespace"]) if e["namespace"] else None,
                e["status"] == "running",
                e["winner"] if e["status"] == "completed" else None,
            )
            for key, e in data["experiments"].items()
        }
        flags = {
            key: _Flag(f["enabled"], f["rollout"], f["seed"])
            for key, f in data["flags"].items()
        }
        return cls(exps, flags, etag)


class HTTPTransport:
    """Keep-alive HTTP/1.1 with the stdlib, one connection per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            reused = conn is not None and self._local.host == parts.netloc
            if conn is None or not reused:
                kind = (
                    http.client.HTTPSConnection
                    if parts.scheme == "https"
                    else http.client.HTTPConnection
                )
                conn = kind(parts.netloc, timeout=timeout)
                self._local.conn, self._local.host = conn, parts.netloc
            try:
                conn.request(method, path, body=body, headers=dict(headers))
                response = conn.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                # A kept-alive connection the server has since closed: one
                # fresh try (event ids make a resent batch harmless).
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")


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


def _backoff(attempt: int) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 16)))


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
        self.dropped = 0
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
        self._events: deque[Any] = deque()  # raw tuples, or bodies to resend
        self._exposures: deque[tuple[str, str]] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._pid = os.getpid()

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
            if exp.namespace is not None and not core.in_namespace(
                user_id, exp.namespace
            ):
                return exp.variations[0], Reason.EXCLUDED, False
            if exp.hash_version == 2:
                h: float | None = core.hash_v2_seeded(exp.seed, exp.seed_state, user_id)
            else:
                h = core.hash(exp.seed, user_id, exp.hash_version)
            index = core.choose_from_ranges(h, exp.ranges)
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
            if core.in_rollout(user_id, flag.seed, flag.rollout):
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
        if len(self._exposures) >= self.max_queue:
            self.dropped += 1
            return
        self._exposures.append(cell)
        if self._thread is None:
            self._start()

    def track(
        self,
        event: str,
        user: str | User,
        value: float | None = None,
        **properties: Any,
    ) -> None:
        """Queue an event; never blocks. A full queue drops it (counted, logged)."""
        if len(self._events) >= self.max_queue:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                logger.warning("abflask queue full: %d events dropped", self.dropped)
            return
        if isinstance(user, User):
            properties = {**user.properties, **properties}
            user = user.id
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
                ok = self.refresh()
                next_refresh = now + (
                    self.refresh_interval if ok else _backoff(failures)
                )
            if now >= next_flush or len(self._events) >= self.batch_size:
                if self._send_all():
                    failures, next_flush = 0, now + self.flush_interval
                else:
                    failures += 1
                    next_flush = now + _backoff(failures)

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

    def _send_all(self) -> bool:
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
                status, _, raw = self._request("POST", "/sdk/exposures", body)
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
                self._remember(item)
        return True

    def _remember(self, item: Mapping[str, Any]) -> None:
        snap = self._snapshot
        exp = snap.experiments.get(item["experiment"]) if snap else None
        if exp is None or item["variation"] is None:
            return
        cell = (item["experiment"], item["user_id"])
        if item["reason"] in ("sticky", "enrolled"):
            _bounded_put(self._assigned, cell, exp.variations.index(item["variation"]))
        elif item["reason"] == "full":  # the cap never un-fills: control for good
            _bounded_put(self._assigned, cell, -1)

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
                    "POST", "/track/batch", {"events": batch}
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

    def flush(self, timeout: float = 5.0) -> bool:
        """Send everything queued now, from the calling thread; False if it failed."""
        deadline = time.monotonic() + timeout
        while self._exposures or self._events:
            if self._send_all():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the background thread and flush what is queued, within ``timeout``."""
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

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
