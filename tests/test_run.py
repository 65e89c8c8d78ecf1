"""The run command end to end: gunicorn, a private persistent Redis, a restart,
and the commands (`abflask`, `flask`, `scripts/analyze.py`) that find that Redis.
"""

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


def serve(data_dir: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """What `make run` runs, with the port and data directory of this test."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        ABFLASK_BIND=f"127.0.0.1:{port}",
        ABFLASK_DATA_DIR=str(data_dir),
        ABFLASK_WORKERS="3",
    )
    env.update(settings)
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


def command(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``args`` from the repository as a developer would: no REDIS_URL."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["ABFLASK_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_commands_find_the_private_redis(tmp_path: Path) -> None:
    port = free_port()
    url_file = tmp_path / "redis" / "url"
    service = serve(tmp_path, port)
    try:
        assert url_file.read_text().strip().startswith("unix://")
        get(f"http://127.0.0.1:{port}/process_user?user_id=42")  # makes `default`
        listed = [
            command([str(BIN / "abflask"), "experiments", "list", "--json"], tmp_path),
            command(
                [str(BIN / "flask"), "--app", "wsgi", "experiments", "list", "--json"],
                tmp_path,
            ),
        ]
        analysed = command(
            [sys.executable, "scripts/analyze.py", "--format", "json"], tmp_path
        )
    finally:
        stop(service)
    for done in listed:
        assert done.returncode == 0, done.stderr
        [found] = json.loads(done.stdout)["experiments"]
        assert (found["key"], found["status"]) == ("default", "running")
    assert analysed.returncode == 0, analysed.stderr
    [result] = json.loads(analysed.stdout)["experiments"]
    assert (result["key"], sum(result["participants"].values())) == ("default", 1)
    assert not url_file.exists()


@pytest.mark.parametrize("worker_class", ["sync", "gevent"])
def test_each_worker_class_serves_and_stores(tmp_path: Path, worker_class: str) -> None:
    port = free_port()
    service = serve(tmp_path, port, ABFLASK_WORKER_CLASS=worker_class)
    try:
        first = get(f"http://127.0.0.1:{port}/process_user?user_id=7")
        again = get(f"http://127.0.0.1:{port}/process_user?user_id=7")
    finally:
        stop(service)
    assert (first["reason"], first["stored"]) == ("enrolled", True)
    assert (again["reason"], again["variation"]) == ("sticky", first["variation"])
