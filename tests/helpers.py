"""Helpers the tests import: settings, the app builder, an admin client.

Fixtures live in ``conftest.py``; nothing imports that module.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from abflask import config
from abflask.service.app import create_app
from abflask.storage import localredis

ROOT = Path(__file__).resolve().parent.parent
"""The repository."""
ADMIN_TOKEN = "test-admin-token-0123456789"
SDK_KEY = "test-sdk-key-0123456789"
PREFIX = "t"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""Executables ``chromium_executable`` looks for on PATH, in this order."""
NO_CHROMIUM = "no Chromium on PATH (chromium, chromium-browser or google-chrome)"
"""The skip reason of each browser test without one."""
NO_CHROMIUM_SUMMARY = (
    "browser tests skipped: no Chromium found (install Debian's chromium)"
)
"""The line the test session's summary ends with then."""


def make_app(url: str, **overrides: Any) -> Flask:
    """The real app on ``url`` with test settings."""
    settings = {
        "TESTING": True,
        "REDIS_URL": url,
        "ABFLASK_KEY_PREFIX": PREFIX,
        "ABFLASK_ADMIN_TOKEN": ADMIN_TOKEN,
        "ABFLASK_SDK_KEYS": (SDK_KEY,),
        **overrides,
    }
    return create_app(settings)


class Admin:
    """Sends admin requests with the bearer token."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def __getattr__(self, method: str) -> Callable[..., TestResponse]:
        send = getattr(self._client, method)

        def call(path: str, **kwargs: Any) -> TestResponse:
            return send(path, headers=self.headers, **kwargs)  # type: ignore[no-any-return]

        return call

    def experiment(self, key: str = "exp", start: bool = True, **fields: Any) -> Any:
        """Create (and by default start) an experiment; return its JSON."""
        body = {"key": key, "variations": ["control", "treatment"], **fields}
        created = self.post("/experiments", json=body)
        assert created.status_code == 201, created.json
        if not start:
            return created.json
        started = self.post(f"/experiments/{key}/start")
        assert started.status_code == 200, started.json
        return started.json


def snapshot(client: redis_py.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialized value: equal snapshots mean nothing changed."""
    return {key: client.dump(key) for key in client.keys("*")}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Restartable:
    """A persistent private Redis that a test can stop, kill and restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = localredis.start(directory, persistent=True)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        os.kill(self.server.process.pid, signal.SIGKILL)
        self.server.process.wait()
        self.server.socket.unlink(missing_ok=True)

    def start(self) -> None:
        self.server = localredis.start(self.directory, persistent=True)


def chromium_executable() -> str | None:
    """The path of a Chromium on PATH (``CHROMIUM_NAMES``), or None.

    The browser tests launch it through Playwright; Playwright's own browser
    download (``playwright install``) is never used.
    """
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def until_phase_begins(definition: dict[str, Any]) -> None:
    """Sleep until the last phase of an experiment's JSON has begun (a new
    phase starts at the next whole second: at most a second away)."""
    time.sleep(max(0.0, definition["phases"][-1]["started_at"] - time.time()) + 0.01)


class Gunicorn:
    """gunicorn with the production config (``gunicorn.conf.py``) on a free
    loopback port, serving this checkout's app, and its HTTP API.

    ``settings`` are extra environment variables (``ABFLASK_*``); the output
    goes to ``log`` (shown if it fails to start), or is inherited. ``stop``
    ends it by its PID: SIGTERM, then a kill after 20 s.
    """

    def __init__(
        self, redis_url: str, log: Path | None = None, **settings: str
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = config.child_environment(
            PYTHONPATH=str(ROOT),  # this checkout's abflask, whatever is installed
            REDIS_URL=redis_url,
            ABFLASK_BIND=f"127.0.0.1:{self.port}",
            ABFLASK_ADMIN_TOKEN=ADMIN_TOKEN,
            ABFLASK_SDK_KEYS=SDK_KEY,
            ABFLASK_LOG_LEVEL="warning",
            **settings,
        )
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        out = log.open("wb") if log is not None else None
        try:
            self.process = subprocess.Popen(
                [*command, "wsgi:app"], cwd=ROOT, env=env, stdout=out, stderr=out
            )
        finally:
            if out is not None:
                out.close()
        deadline = time.monotonic() + 30
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                shown = log.read_text() if log is not None else ""
                raise AssertionError("the service did not start\n" + shown)
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            return self.request("GET", "/readyz")[0] == 200
        except OSError:
            return False

    def request(
        self, method: str, path: str, body: Any = None, admin: bool = False
    ) -> tuple[int, Any]:
        """One request on its own connection, so requests spread over the workers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Connection": "close", "Content-Type": "application/json"}
        if admin:
            headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        try:
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """An admin API request that must succeed; its JSON answer."""
        status, answer = self.request(method, path, body, admin=True)
        assert status in (200, 201, 204), (status, answer)
        return answer

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
