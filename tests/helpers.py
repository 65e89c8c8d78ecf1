"""Helpers the tests import: settings, the app builder, an admin client.

Fixtures live in ``conftest.py``; nothing imports that module.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

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
