"""Latency of normal traffic while slow clients trickle bytes (slowloris).

Starts a private Redis and the service under ``gunicorn.conf.py`` on a
loopback port, measures normal traffic (a few clients asking
``/process_user``, one new connection per request), then opens ``--slow``
sockets that each send a request line and then one header byte per second,
never finishing, and measures the same traffic again. Prints p50, p99 and
max latency and failed requests (a failure counts as ``--timeout``) for
both phases; ``--json`` prints them as one JSON object. Stops everything it
started, by PID. Not run by pytest directly (``tests/test_slowloris.py``
runs it).

    python scripts/bench_slowloris.py [--slow 50] [--seconds 5] [-- GUNICORN ARGS]

Arguments after ``--`` go to gunicorn (``-- -k sync`` measures the sync
workers the service used to run).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from abflask import config
from abflask.storage import localredis

ROOT = Path(__file__).resolve().parent.parent
TRICKLE_EVERY = 1.0
"""Seconds between two bytes of one slow client."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(
    port: int, redis_url: str, workers: int, extra: list[str], log: Path
) -> subprocess.Popen[bytes]:
    """gunicorn with ``gunicorn.conf.py`` (and ``extra`` arguments), once ready."""
    env = config.child_environment(
        REDIS_URL=redis_url,
        ABFLASK_BIND=f"127.0.0.1:{port}",
        ABFLASK_WORKERS=str(workers),
        ABFLASK_LOG_LEVEL="warning",
    )
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, *extra, "wsgi:app"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            if get(port, "/healthz", 1.0)[0] == 200:
                return process
        except OSError:
            time.sleep(0.1)
    stop(process)
    raise SystemExit("gunicorn did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """TERM, then KILL after 10 s: by PID, never by name."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """One request on a new connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def normal_traffic(
    port: int, seconds: float, clients: int, timeout: float
) -> dict[str, float]:
    """``clients`` threads asking ``/process_user`` for ``seconds``: latencies."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def run(n: int) -> None:
        i = 0
        while time.monotonic() < end:
            i += 1
            began = time.monotonic()
            try:
                status, _ = get(port, f"/process_user?user_id=n{n}-{i % 500}", timeout)
                ok = status == 200
            except OSError:
                ok = False
            took = time.monotonic() - began
            with lock:
                latencies.append(took if ok else max(took, timeout))
                failures[0] += not ok

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "failures": failures[0],
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


class SlowClients:
    """``count`` sockets, each trickling one header byte per second, forever.

    A socket the server closes is opened again, so the pressure stays.
    """

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"GET /process_user?user_id=slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        return sock

    def _run(self) -> None:
        sockets: list[socket.socket | None] = [None] * self.count
        while not self._stop.is_set():
            for i, sock in enumerate(sockets):
                try:
                    if sock is None:
                        sockets[i] = self._open()
                    else:
                        sock.sendall(b"a")
                except OSError:
                    if sock is not None:
                        sock.close()
                        self.reopened += 1
                    sockets[i] = None
            self._stop.wait(TRICKLE_EVERY)
        for sock in sockets:
            if sock is not None:
                sock.close()

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def measure(
    slow: int, seconds: float, workers: int, extra: list[str], timeout: float
) -> dict[str, object]:
    """Both phases against a fresh Redis and service; everything stopped after."""
    with tempfile.TemporaryDirectory() as tmp:
        redis = localredis.start(Path(tmp) / "redis", persistent=False)
        service = None
        try:
            port = free_port()
            service = start_service(port, redis.url, workers, extra, Path(tmp) / "log")
            normal_traffic(port, 1.0, 2, timeout)  # warm up: workers, caches
            before = normal_traffic(port, seconds, 4, timeout)
            with SlowClients(port, slow) as attack:
                time.sleep(2.0)  # every slow socket connected and trickling
                under = normal_traffic(port, seconds, 4, timeout)
                reopened = attack.reopened
        finally:
            if service is not None:
                stop(service)
            redis.stop()
    return {
        "gunicorn_args": extra,
        "workers": workers,
        "slow_clients": slow,
        "before": before,
        "under_attack": under,
        "slow_sockets_reopened": reopened,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=50, help="slow clients")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=15.0, help="per request")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("gunicorn", nargs="*", help="arguments for gunicorn")
    args = parser.parse_args(argv)
    result = measure(args.slow, args.seconds, args.workers, args.gunicorn, args.timeout)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.slow} slow clients, {args.workers} workers, {args.gunicorn or ''}")
    for phase in ("before", "under_attack"):
        row = result[phase]
        assert isinstance(row, dict)
        print(
            f"  {phase:13} {row['requests']:6} requests  p50 {row['p50_ms']:8.1f} ms"
            f"  p99 {row['p99_ms']:8.1f} ms  max {row['max_ms']:8.1f} ms"
            f"  failed {row['failures']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
