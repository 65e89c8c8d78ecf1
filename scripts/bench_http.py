"""HTTP throughput and latency of the service against a bare Flask baseline.

Starts a private Redis, the service and the baseline app (both under
``gunicorn.conf.py``, on loopback ports), and drives them with ``wrk``
(``apt-get install wrk``; a slower Python load generator otherwise) in
alternating rounds. Prints req/s, p50 and p99 per workload and the ratio to
the baseline measured in the same round:

- ``new``: every request a new user (an enrollment write);
- ``returning``: users already enrolled (the common case);
- ``events``: ``/track/batch`` with 100 events per request.

Then Redis bytes per participant and per event (``bench_memory.py``). Stops
everything it started. Not run by pytest.

    python scripts/bench_http.py [--seconds 5] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from abflask.storage import localredis

ROOT = Path(__file__).resolve().parent.parent


RETURNING_USERS = 10_000
TARGETS = {"returning": 0.75, "new": 0.6}
"""Least req/s relative to the baseline."""
EVENTS_TARGET = 50_000
"""Least events/s through /track/batch."""
P99_TARGET_MS = 20.0

NEW_LUA = """
local n = 0
init = function(args) math.randomseed(os.time() * 1000 + math.random(1, 1e6)) end
request = function()
  n = n + 1
  local id = math.random(1, 1e9) .. "-" .. n
  return wrk.format("GET", "/process_user?user_id=new-" .. id)
end
"""
RETURNING_LUA = """
request = function()
  return wrk.format("GET", "/process_user?user_id=ret-" .. math.random(1, COUNT))
end
""".replace("COUNT", str(RETURNING_USERS))
EVENTS_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[BODY]]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    app: str, port: int, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        app,
    ]
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/process_user?user_id=x", timeout=1
            ).read()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{app} did not start")


def wrk(
    url: str, lua: str, seconds: int, connections: int
) -> tuple[float, float, float]:
    """(req/s, p50 ms, p99 ms) from one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(name: str) -> float:
        m = re.search(rf"{name}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale

    return rps, pct("50"), pct("99")


def python_load(
    url: str, paths: list[str], body: bytes | None, seconds: int, connections: int
) -> tuple[float, float, float]:
    """A fallback load generator: threads with keep-alive-less requests."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(k: int) -> None:
        i, mine = k, []
        while time.monotonic() < stop:
            started = time.perf_counter()
            req = urllib.request.Request(
                url + paths[i % len(paths)],
                data=body,
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=10).read()
            mine.append(time.perf_counter() - started)
            i += connections
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return (
        len(latencies) / seconds,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--memory-participants", type=int, default=1_000_000)
    args = parser.parse_args()
    have_wrk = shutil.which("wrk") is not None
    if not have_wrk:
        print("wrk not found (apt-get install wrk): using the slower Python generator")
    batch = json.dumps(
        {
            "events": [
                {"user_id": f"ret-{i}", "event": "purchase", "value": 9.99}
                for i in range(1, 101)
            ]
        }
    )
    workloads = {
        "returning": RETURNING_LUA,
        "new": NEW_LUA,
        "events": EVENTS_LUA.replace("BODY", batch),
    }
    results: dict[str, list[tuple[float, float, float]]] = {}
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = localredis.start(Path(tmp) / "redis", persistent=True)
        env = {**os.environ, "REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT)}
        ports = {"abflask": free_port(), "baseline": free_port()}
        procs = []
        try:
            procs.append(serve("wsgi:app", ports["abflask"], env, ROOT))
            procs.append(
                serve("bench_baseline:app", ports["baseline"], env, ROOT / "scripts")
            )
            base = f"http://127.0.0.1:{ports['abflask']}"
            for i in range(1, RETURNING_USERS + 1):  # enroll the returning users
                urllib.request.urlopen(f"{base}/process_user?user_id=ret-{i}").read()
            for _ in range(args.rounds):
                for name, lua in workloads.items():
                    for target in ("baseline", "abflask"):
                        url = f"http://127.0.0.1:{ports[target]}"
                        if have_wrk:
                            got = wrk(
                                url + ("/track/batch" if name == "events" else ""),
                                lua,
                                args.seconds,
                                args.connections,
                            )
                        else:
                            paths = (
                                [
                                    f"/process_user?user_id=ret-{i}"
                                    for i in range(1, 1001)
                                ]
                                if name == "returning"
                                else [
                                    f"/process_user?user_id=new-{time.time_ns()}-{i}"
                                    for i in range(100_000)
                                ]
                                if name == "new"
                                else ["/track/batch"]
                            )
                            got = python_load(
                                url,
                                paths,
                                batch.encode() if name == "events" else None,
                                args.seconds,
                                args.connections,
                            )
                        results.setdefault(f"{name}/{target}", []).append(got)
                    mine = results[f"{name}/abflask"][-1][0]
                    ratios.setdefault(name, []).append(
                        mine / results[f"{name}/baseline"][-1][0]
                    )
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
            redis_server.stop()
    print(
        f"\n{args.rounds} rounds × {args.seconds} s, {args.connections} connections, "
        f"{'wrk' if have_wrk else 'python'} load; medians"
    )
    print(
        f"{'workload':<11}{'baseline req/s':>15}{'abflask req/s':>15}{'ratio':>8}"
        f"{'p50 ms':>8}{'p99 ms':>8}  target"
    )
    for name in workloads:
        mine = results[f"{name}/abflask"]
        theirs = results[f"{name}/baseline"]
        rps = statistics.median(r[0] for r in mine)
        p50 = statistics.median(r[1] for r in mine)
        p99 = statistics.median(r[2] for r in mine)
        ratio = statistics.median(ratios[name])
        if name == "events":
            target = f"{rps * 100:,.0f} events/s (≥ {EVENTS_TARGET:,})"
        else:
            target = f"≥ {TARGETS[name]}x, p99 ≤ {P99_TARGET_MS:.0f} ms"
        print(
            f"{name:<11}{statistics.median(r[0] for r in theirs):>15,.0f}{rps:>15,.0f}"
            f"{ratio:>7.2f}x{p50:>8.2f}{p99:>8.2f}  {target}"
        )
    if args.memory_participants:
        print()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "bench_memory.py"),
                "--participants",
                str(args.memory_participants),
            ],
            check=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
