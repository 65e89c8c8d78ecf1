"""Latency of the live results endpoint next to ``/healthz``, in one run.

Starts a private Redis and the service under ``gunicorn.conf.py`` (loopback
port), creates an experiment with 5 variations and 10 metrics (conversions,
capped values, windows, a guardrail), enrolls users and sends events through
the real API, then fills the counters' snapshot list (512 entries, as a
long-running experiment has) with the history a steady experiment would have
written: the counters now scaled down minute by minute, so every point of the
time series is a real comparison whatever the traffic's timing. Then times
``GET /experiments/<key>/results?live=1`` and ``GET /healthz`` alternately
over one keep-alive connection, with ``&series=1`` every fourth round. Prints
p50 and p99 of each and their difference, and the service's CPU time per
request (all gunicorn processes, from the kernel's tick counts: steadier than
latency on a shared machine). Stops everything it started. Not run by pytest.

    python scripts/bench_live.py [--requests 2000] [--users 20000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from bench_http import ROOT, free_port, serve

from abflask.storage import localredis

TARGET_P99_MS = 10.0
SERIES_MAX = 512
"""Entries of a full snapshot list (``include/series.lua``)."""
TOKEN = "bench-admin-token-0123456789"
METRICS: list[Any] = [
    {"event": "purchase"},
    {"event": "revenue", "type": "value", "cap": 500.0},
    {"event": "signup", "role": "secondary"},
    {"event": "clicks", "type": "value", "role": "secondary", "window": 86_400},
    {"event": "add_to_cart", "role": "secondary"},
    {"event": "sessions", "type": "value", "role": "secondary"},
    {"event": "share", "role": "secondary", "window": 3_600},
    {"event": "support_ticket", "role": "guardrail", "direction": "lower"},
    {"event": "refund", "type": "value", "role": "guardrail", "direction": "lower"},
    {"event": "latency", "type": "value", "role": "guardrail", "direction": "lower"},
]


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any = None
) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    conn.request(method, path, body=data, headers=headers)
    answer = conn.getresponse()
    raw = answer.read()
    if answer.status >= 300:
        raise SystemExit(f"{method} {path}: {answer.status} {raw[:300]!r}")
    return json.loads(raw)


def traffic(conn: http.client.HTTPConnection, users: int) -> None:
    rng = random.Random(7)
    events: list[dict[str, Any]] = []
    for i in range(users):
        user = f"user-{i}"
        request(conn, "GET", f"/process_user?user_id={user}&experiment=live")
        for metric in METRICS:
            if rng.random() < 0.3:
                events.append(
                    {
                        "user_id": user,
                        "event": metric["event"],
                        "value": rng.random() * 50,
                    }
                )
        if len(events) >= 900:
            request(conn, "POST", "/track/batch", {"events": events})
            events = []
    if events:
        request(conn, "POST", "/track/batch", {"events": events})


def history(
    client: Any, key: str, variations: int, lead: str, size: int = SERIES_MAX
) -> list[bytes]:
    """Snapshot entries for a full list: after the ones written so far, the
    current phase's counters now (participants and the ``lead`` event's
    cells, as include/series.lua writes them), scaled to i / n of today's
    for the i-th of the n entries still missing, a minute apart."""
    written = client.lrange(f"{key}:ts", 0, -1)
    counters = client.hgetall(f"{key}:c")
    lead_id = int(client.hget(f"{key}:ev", lead))
    last_minute, phase = written[-1].split()[:2]

    def field(name: str) -> float:
        return float(counters.get(name.encode(), 0))

    participants = [field(f"p:{phase.decode()}:{v}") for v in range(variations)]
    cells = [
        [field(f"{kind}:{phase.decode()}:{v}:{lead_id}") for kind in "usqm"]
        for v in range(variations)
    ]
    missing = size - len(written)
    out = []
    for i in range(1, missing + 1):
        share = i / missing
        numbers = [str(round(n * share)) for n in participants]
        for users, total, squares, negative in cells:
            numbers += [
                str(round(users * share)),
                repr(total * share),
                repr(squares * share),
                str(round(negative * share)),
            ]
        head = f"{int(last_minute) + i} {phase.decode()} {lead_id} {variations}"
        out.append(f"{head} {' '.join(numbers)}".encode())
    return out


def timed(conn: http.client.HTTPConnection, path: str) -> float:
    """Milliseconds from sending a GET to having read its whole answer (the
    client's own parsing of the JSON is not the server's latency)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    raw = answer.read()
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status != 200:
        raise SystemExit(f"GET {path}: {answer.status} {raw[:300]!r}")
    return elapsed


class Meter:
    """Latencies of one endpoint and the service's CPU time they took."""

    def __init__(self, server: psutil.Process) -> None:
        self.server = server
        self.times: list[float] = []
        self.cpu = 0.0

    def service_cpu(self) -> float:
        """CPU seconds of the gunicorn master and its workers so far."""
        total = 0.0
        for proc in (self.server, *self.server.children(recursive=True)):
            try:
                spent = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += spent.user + spent.system
        return total

    def time(self, conn: http.client.HTTPConnection, path: str) -> None:
        before = self.service_cpu()
        self.times.append(timed(conn, path))
        self.cpu += self.service_cpu() - before

    def line(self, name: str) -> str:
        per_request = self.cpu / len(self.times) * 1000
        return (
            f"{name:14} p50 {percentile(self.times, 0.5):6.2f} ms   "
            f"p99 {percentile(self.times, 0.99):6.2f} ms   "
            f"cpu {per_request:5.2f} ms/request"
        )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = localredis.start(Path(tmp) / "redis", persistent=False)
        env = {
            **os.environ,
            "REDIS_URL": redis_server.url,
            "PYTHONPATH": str(ROOT),
            "ABFLASK_ADMIN_TOKEN": TOKEN,
        }
        port = free_port()
        process = None
        try:
            process = serve("wsgi:app", port, env, ROOT)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            variations = ["control", "a", "b", "c", "d"]
            body = {"key": "live", "variations": variations, "metrics": METRICS}
            request(conn, "POST", "/experiments", body)
            request(conn, "POST", "/experiments/live/start")
            traffic(conn, args.users)
            # A full snapshot list, as a long-running experiment has.
            client = redis_server.client()
            key = "ab:x:{live}"
            lead = METRICS[0]["event"]
            client.rpush(f"{key}:ts", *history(client, key, len(variations), lead))
            points = client.llen(f"{key}:ts")
            live_path = "/experiments/live/results?live=1"
            result = request(conn, "GET", live_path)
            assert result["source"] == "live", result
            for _ in range(50):  # warm up
                timed(conn, live_path)
                timed(conn, "/healthz")
                timed(conn, live_path + "&series=1")
            server = psutil.Process(process.pid)
            live, health, charts = Meter(server), Meter(server), Meter(server)
            for i in range(args.requests):
                live.time(conn, live_path)
                health.time(conn, "/healthz")
                if i % 4 == 0:
                    charts.time(conn, live_path + "&series=1")
        finally:
            if process is not None:
                process.terminate()
                process.wait(20)
            redis_server.stop()
    metrics, k = len(METRICS), len(variations)
    print(
        f"experiment: {k} variations x {metrics} metrics, {args.users:,} users, "
        f"{points} counter snapshots; {args.requests:,} requests each"
    )
    for name, meter in (
        ("/healthz", health),
        ("live results", live),
        ("  + series", charts),
    ):
        print(meter.line(name))
    p99 = percentile(live.times, 0.99)
    over = percentile(live.times, 0.5) - percentile(health.times, 0.5)
    print(
        f"live results p99 {p99:.2f} ms (target <= {TARGET_P99_MS:g} ms: ratio "
        f"{p99 / TARGET_P99_MS:.2f}); over /healthz: p50 {over:+.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
