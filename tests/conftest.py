"""Fixtures: a real private redis-server, the app, its clients, a live server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from abflask import localredis
from abflask.app import create_app

ADMIN_TOKEN = "test-admin-token-0123456789"
SDK_KEY = "test-sdk-key-0123456789"
PREFIX = "t"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real redis-server for the session, started the way `make run` does."""
    server = localredis.start(tmp_path_factory.mktemp("redis"), persistent=False)
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: localredis.LocalRedis) -> Iterator[redis_py.Redis]:
    """A client of the session server, on an empty database."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


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


@pytest.fixture
def app(redis_server: localredis.LocalRedis, redis: redis_py.Redis) -> Flask:
    return make_app(redis_server.url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


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


@pytest.fixture
def admin(client: FlaskClient) -> Admin:
    return Admin(client)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a loopback port, threaded."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def snapshot(client: redis_py.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialized value: equal snapshots mean nothing changed."""
    return {key: client.dump(key) for key in client.keys("*")}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[localredis.LocalRedis]:
    """A server of this test's own, which the test may stop and restart."""
    server = localredis.start(tmp_path / "redis", persistent=False)
    yield server
    server.stop()
