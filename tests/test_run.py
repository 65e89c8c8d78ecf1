"""The run command end to end: gunicorn, a private persistent Redis, a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """What `make run` runs, with the port and data directory of this test."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        ABFLASK_BIND=f"127.0.0.1:{port}",
        ABFLASK_DATA_DIR=str(data_dir),
        ABFLASK_WORKERS="3",
    )
    command = [
        sys.executable,
        "-m",
        "abflask.storage.localredis",
        "--",
        str(BIN / "gunicorn"),
        "-c",
        "gunicorn.conf.py",
        "wsgi:app",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited"
        try:
            if get(f"http://127.0.0.1:{port}/readyz")["status"] == "ready":
                return process
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the service did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a supervisor sends it: everything must be down promptly.

    Well under gunicorn's graceful timeout (20 s), even when workers are still
    booting, which is when a slow ``post_fork`` hook made them miss the signal.
    """
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0


def test_run_serves_and_keeps_assignments_across_restarts(tmp_path: Path) -> None:
    port = free_port()
    service = serve(tmp_path, port)
    try:
        first = get(f"http://127.0.0.1:{port}/process_user?user_id=42")
    finally:
        stop(service)
    assert first["enrolled"] is True
    assert (tmp_path / "redis" / "appendonly.aof").exists()
    assert not (tmp_path / "redis" / "redis.sock").exists()  # Redis stopped too

    service = serve(tmp_path, port)
    try:
        again = get(f"http://127.0.0.1:{port}/process_user?user_id=42")
    finally:
        stop(service)
    assert (again["variation"], again["reason"]) == (first["variation"], "sticky")
