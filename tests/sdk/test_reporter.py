"""The SDK's reporter under each failure of issue 9, driven for real.

Real HTTP where a server can play the failure (503s, a refused port, a slow
service, the live app); a stub transport only where the answer itself is the
fault (a non-JSON 200, an unknown variation); a fake clock where the test is
about the schedule.
"""

from __future__ import annotations

import atexit
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis as redis_py

from abflask.core.records import decode_record
from abflask.sdk.client import Client, HTTPTransport, Reason
from abflask.sdk.schedule import BACKOFF_BASE, BACKOFF_CAP
from tests.helpers import PREFIX, SDK_KEY, Admin, free_port

Answer = tuple[int, Mapping[str, str], bytes]


class Spy:
    """Forwards to the real HTTP transport, records each call, may rewrite it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = HTTPTransport()
        self.clock = clock
        self.calls: list[tuple[float, str, str, int]] = []
        self.bodies: list[tuple[str, Any, int]] = []
        self.fault: Callable[[str, str, Answer | None], Answer | None] | None = None
        self.lock = threading.Lock()

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Answer:
        path = url.split("/", 3)[3]
        try:
            if self.fault is not None:
                faked = self.fault(method, "/" + path, None)
                if faked is not None:
                    self.record(method, path, body, faked[0])
                    return faked
            answer = self.inner(method, url, headers, body, timeout)
        except OSError:
            self.record(method, path, body, -1)
            raise
        self.record(method, path, body, answer[0])
        return answer

    def record(self, method: str, path: str, body: bytes | None, status: int) -> None:
        with self.lock:
            self.calls.append((self.clock(), method, "/" + path, status))
            self.bodies.append(("/" + path, json.loads(body) if body else None, status))

    def posts(self, path: str) -> list[tuple[float, str, str, int]]:
        return [c for c in self.calls if c[1] == "POST" and c[2] == path]


class Canned(BaseHTTPRequestHandler):
    """Answers every request with the server's ``status`` after ``delay`` s."""

    server: CannedServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.answer()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer()

    def answer(self) -> None:
        self.server.hits += 1
        time.sleep(self.server.delay)
        body = b'{"error": "unavailable"}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class CannedServer(ThreadingHTTPServer):
    daemon_threads = True
    hits = 0
    status = 503
    delay = 0.0


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def url_of(server: CannedServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def log(redis: redis_py.Redis, key: str = "exp") -> list[Any]:
    return [decode_record(r) for r in redis.lrange(f"{PREFIX}:x:{{{key}}}:log", 0, -1)]


def in_experiment(client: Client, n: int, prefix: str = "u") -> list[str]:
    """``n`` users the client exposes (inside the experiment's coverage)."""
    users = (f"{prefix}{i}" for i in range(10 * n))
    chosen = (u for u in users if client.variation_detail("exp", u).in_experiment)
    return list(itertools.islice(chosen, n))


def alive(client: Client) -> bool:
    thread = client._reporter.thread
    return thread is not None and thread.is_alive()


# -- retry storms ---------------------------------------------------------------------


class FakeClock:
    """Time that moves only when the reporter waits; parks it at ``until``."""

    def __init__(self, until: float) -> None:
        self.now, self.until = 0.0, until
        self.parked = threading.Event()

    def monotonic(self) -> float:
        return self.now

    def wait(self, condition: threading.Condition, timeout: float) -> None:
        if self.now + timeout > self.until:
            self.parked.set()
            condition.wait(0.05)  # real time: until close() wakes it
            return
        self.now += timeout
        condition.wait(0)  # let the callers' kicks in


def test_a_503_storm_gets_one_request_per_backoff_step(
    live_server: str, admin: Admin
) -> None:
    # Before: ~1,100 POST /track/batch per second once batch_size was queued.
    admin.experiment("exp")
    clock = FakeClock(until=600.0)
    spy = Spy(clock.monotonic)
    client = Client(live_server, SDK_KEY, transport=spy, clock=clock, batch_size=10)
    spy.fault = lambda method, path, _: (503, {}, b"{}") if method == "POST" else None
    users = in_experiment(client, 30)
    for user in users:
        client.track("buy", user)  # 3 batches of exposures and of events
    assert clock.parked.wait(10)
    posts = [t for t, _, path, _ in spy.calls if path != "/sdk/config"]
    gaps = [b - a for a, b in zip(posts, posts[1:], strict=False)]
    for failures, gap in enumerate(gaps, start=1):  # at most one per step
        step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1))
        assert gap >= step / 2, (failures, gaps)
    assert 5 <= len(posts) <= 600 / (BACKOFF_CAP / 2) + 8
    assert alive(client)
    client.close(timeout=0)
    assert client.dropped == 2 * len(users)


def test_a_503_storm_over_http_is_held_to_the_backoff(canned: CannedServer) -> None:
    client = Client(url_of(canned), SDK_KEY, batch_size=5, initial_fetch=False)
    for i in range(50):
        client.track("buy", f"u{i}")
    time.sleep(2.0)
    # The first attempt, then steps of >= 0.25, 0.5 and 1 s: at most 4 POSTs
    # in 2 s (and one config GET); before, ~2,200.
    assert canned.hits <= 6
    assert alive(client)
    client.close(timeout=0.2)
    assert client.dropped == 50


def test_a_refused_connection_is_held_to_the_backoff() -> None:
    # Before: ~39,000 attempts per second.
    spy = Spy()
    client = Client(
        f"http://127.0.0.1:{free_port()}", SDK_KEY, transport=spy, batch_size=5
    )
    for i in range(50):
        client.track("buy", f"u{i}")
    time.sleep(2.0)
    assert 1 <= len(spy.posts("/track/batch")) <= 4
    assert {status for *_, status in spy.calls} == {-1}
    assert alive(client)
    assert client.dropped == 0
    client.close(timeout=0.2)
    assert client.dropped == 50


# -- answers that used to kill the thread ---------------------------------------------


@pytest.fixture
def spy() -> Spy:
    return Spy()


@pytest.fixture
def sdk(live_server: str, admin: Admin, spy: Spy) -> Iterator[Client]:
    admin.experiment("exp", weights=[0.3, 0.7], coverage=0.9, metrics=["buy"])
    client = Client(
        live_server, SDK_KEY, transport=spy, flush_interval=0.02, batch_size=10
    )
    yield client
    client.close(timeout=5)


def html(method: str, path: str, _: Answer | None) -> Answer | None:
    if method != "POST":
        return None
    return 200, {"Content-Type": "text/html"}, b"<html>maintenance</html>"


def test_a_non_json_200_is_retried_and_the_thread_lives(
    sdk: Client, spy: Spy, redis: redis_py.Redis
) -> None:
    spy.fault = html
    users = in_experiment(sdk, 20)
    for user in users:
        sdk.track("buy", user, value=1.0)
    assert not sdk.flush(timeout=0.5)
    assert alive(sdk)
    assert len(spy.posts("/sdk/exposures")) >= 1
    spy.fault = None
    assert sdk.flush(timeout=15)
    records = log(redis)
    assert len([r for r in records if r.exposure]) == len(users)
    assert len([r for r in records if not r.exposure]) == len(users)
    assert sdk.dropped == 0


def test_a_variation_missing_from_the_snapshot_is_survived(
    sdk: Client, spy: Spy, redis: redis_py.Redis
) -> None:
    # The real service answers; the transport then renames the variation.
    real = spy.inner

    def renaming(
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Answer:
        status, out_headers, raw = real(method, url, headers, body, timeout)
        if url.endswith("/sdk/exposures") and status == 200:
            answer = json.loads(raw)
            for entry in answer["assignments"]:
                entry["variation"] = "purple"
            raw = json.dumps(answer).encode()
        return status, out_headers, raw

    spy.inner = renaming  # type: ignore[assignment]
    users = in_experiment(sdk, 20)
    assert sdk.flush(timeout=10)
    assert alive(sdk)
    detail = sdk.variation_detail("exp", users[0])
    assert detail.reason is Reason.ASSIGNED and detail.value != "purple"
    for user in users:
        sdk.track("buy", user)
    assert sdk.flush(timeout=10)
    assert len([r for r in log(redis) if not r.exposure]) == len(users)


# -- one sender ------------------------------------------------------------------------


def test_flush_racing_the_thread_sends_each_event_once(
    sdk: Client, spy: Spy, redis: redis_py.Redis
) -> None:
    # Before: batches sent twice, items lost, the thread dead of IndexError.
    buyer = in_experiment(sdk, 1)[0]
    assert sdk.flush(timeout=10)

    def work(n: int) -> None:
        for i in range(250):
            sdk.track("buy", buyer, value=n * 1000 + i)
            if i % 25 == 0:
                sdk.flush(timeout=5)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sdk.flush(timeout=15)
    sent = [
        event["event_id"]
        for path, body, status in spy.bodies
        if path == "/track/batch" and status == 202
        for event in body["events"]
    ]
    assert len(sent) == len(set(sent)) == 1000
    assert alive(sdk)
    assert len([r for r in log(redis) if not r.exposure]) == 1000


# -- close and flush never exceed their timeout ------------------------------------


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "mid-request"])
def test_close_returns_within_its_timeout_against_a_slow_service(
    canned: CannedServer, busy: bool
) -> None:
    # Before: close(timeout=0.5) took 1.5 s, and lost events with dropped == 0.
    canned.status, canned.delay = 202, 1.0
    client = Client(
        url_of(canned),
        SDK_KEY,
        initial_fetch=False,
        flush_interval=0.01 if busy else 3600,
        refresh_interval=3600,
    )
    for i in range(20):
        client.track("buy", f"u{i}")
    if busy:
        deadline = time.monotonic() + 5
        while canned.hits == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    started = time.monotonic()
    client.close(timeout=0.5)
    assert time.monotonic() - started <= 0.6
    assert client.dropped == 20


def test_flush_returns_within_its_timeout(canned: CannedServer) -> None:
    canned.status, canned.delay = 202, 1.0
    client = Client(url_of(canned), SDK_KEY, initial_fetch=False)
    client.track("buy", "u1")
    started = time.monotonic()
    assert not client.flush(timeout=0.3)
    assert time.monotonic() - started <= 0.45
    client.close(timeout=2)
    assert client.dropped == 0


def test_clients_leave_no_hooks_behind() -> None:
    before = atexit._ncallbacks()  # type: ignore[attr-defined]
    for _ in range(20):
        Client("http://127.0.0.1:9", SDK_KEY, initial_fetch=False).close(timeout=0)
    assert atexit._ncallbacks() == before  # type: ignore[attr-defined]


def test_tracking_after_close_is_counted(live_server: str) -> None:
    client = Client(live_server, SDK_KEY, initial_fetch=False)
    client.close(timeout=1)
    client.track("buy", "u1")
    assert client.dropped == 1
