"""Latency of the live results endpoint next to ``/healthz``, in one run.

Starts a private Redis and the service under ``gunicorn.conf.py`` (loopback
port), creates an experiment with 5 variations and 10 metrics (conversions,
capped values, windows, a guardrail), enrolls users and sends events through
the real API, advancing the counters' snapshot clock so the time series has
points, then times ``GET /experiments/<key>/results?live=1`` and
``GET /healthz`` alternately over one keep-alive connection. Prints p50 and
p99 of each and their difference. Stops everything it started. Not run by
pytest.

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

from bench_http import ROOT, free_port, serve

from abflask.storage import localredis

TARGET_P99_MS = 10.0
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


def timed(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    request(conn, "GET", path)
    return (time.perf_counter() - started) * 1000


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
            # A full snapshot list, as a long-running experiment has: copies of
            # the one written so far, a minute apart.
            client = redis_server.client()
            series = "ab:x:{live}:ts"
            minute, rest = client.lrange(series, -1, -1)[0].split(b" ", 1)
            copies = [b"%d %s" % (int(minute) + i, rest) for i in range(1, 512)]
            client.rpush(series, *copies)
            points = client.llen(series)
            live_path = "/experiments/live/results?live=1"
            result = request(conn, "GET", live_path)
            assert result["source"] == "live", result
            for _ in range(50):  # warm up
                timed(conn, live_path)
                timed(conn, "/healthz")
            live, health = [], []
            charts = []
            for i in range(args.requests):
                live.append(timed(conn, live_path))
                health.append(timed(conn, "/healthz"))
                if i % 4 == 0:
                    charts.append(timed(conn, live_path + "&series=1"))
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
    for name, times in (
        ("/healthz", health),
        ("live results", live),
        ("  + series", charts),
    ):
        print(
            f"{name:14} p50 {percentile(times, 0.5):6.2f} ms   "
            f"p99 {percentile(times, 0.99):6.2f} ms"
        )
    p99 = percentile(live, 0.99)
    print(
        f"live results p99 {p99:.2f} ms (target <= {TARGET_P99_MS:g} ms: ratio "
        f"{p99 / TARGET_P99_MS:.2f}); over /healthz: p50 "
        f"{percentile(live, 0.5) - percentile(health, 0.5):+.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
