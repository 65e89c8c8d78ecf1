"""``make loadtest``: a bounded headless Locust run against a private service.

Starts a private Redis and the service (``gunicorn.conf.py``) on a loopback
port, runs ``scripts/locustfile.py`` headless, writes Locust's CSV and HTML
reports to ``var/loadtest/``, and stops everything it started.

    python scripts/run_loadtest.py [--users 50] [--spawn-rate 10] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from abflask.storage import localredis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "loadtest")
    args, extra = parser.parse_known_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    redis_server = localredis.start(args.out / "redis", persistent=False)
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "ABFLASK_BIND": f"127.0.0.1:{port}",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
    )
    try:
        host = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(host + "/readyz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the service did not start") from None
                time.sleep(0.1)
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "scripts" / "locustfile.py"),
            "--headless",
            "--host",
            host,
            "-u",
            str(args.users),
            "-r",
            str(args.spawn_rate),
            "-t",
            f"{args.seconds}s",
            "--csv",
            str(args.out / "abflask"),
            "--html",
            str(args.out / "report.html"),
            "--only-summary",
            "--stop-timeout",
            "5",
            *extra,
        ]
        code = subprocess.run(command, cwd=ROOT, timeout=args.seconds + 120).returncode
        print(f"reports: {args.out}/abflask_stats.csv, {args.out}/report.html")
        return code
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
