"""Fixtures only: a real private redis-server, the app, its clients, a live server.

Helpers the tests import live in ``tests/helpers.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.serving import make_server

from abflask.storage import localredis
from tests.helpers import PREFIX, Admin, Restartable, make_app


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[localredis.LocalRedis]:
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


@pytest.fixture
def app(redis_server: localredis.LocalRedis, redis: redis_py.Redis) -> Flask:
    return make_app(redis_server.url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


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


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Restartable]:
    server = Restartable(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch,
    redis_server: localredis.LocalRedis,
    tmp_path: Path,
) -> Path:
    """The analysis job's environment: the test Redis and a data directory of its
    own (``tmp_path / "data"``); yields ``tmp_path``."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("ABFLASK_KEY_PREFIX", PREFIX)
    monkeypatch.setenv("ABFLASK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path
