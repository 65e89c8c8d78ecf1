"""Fixtures only: a real private redis-server, the app, its clients, a live server.

Helpers the tests import live in ``tests/helpers.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from abflask.storage import localredis
from tests.helpers import (
    NO_CHROMIUM,
    NO_CHROMIUM_SUMMARY,
    PREFIX,
    Admin,
    Restartable,
    chromium_executable,
    make_app,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        help="save the browser tests' screenshots in DIR (`make screenshots` "
        "gives docs/screenshots); by default they go to a temporary directory",
    )


@pytest.fixture(scope="session")
def screenshots(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Where the browser tests save their screenshots (``--screenshots``)."""
    chosen = request.config.getoption("--screenshots")
    if not chosen:
        return tmp_path_factory.mktemp("screenshots")
    folder = Path(chosen)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--no-first-run",
    # No connections to Google's hosts: the machines have a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from PATH (``chromium_executable``), driven by
    Playwright; the test is skipped, with ``NO_CHROMIUM``, when there is none.
    One per test module: Playwright's event loop ends with it, so later
    tests that run asyncio start from none."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (own cookies and storage) 1280 px wide; 15 s timeouts."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter,
) -> Generator[None]:
    """Say plainly, after the short summary, when the browser tests did not
    run for want of a Chromium."""
    yield
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if NO_CHROMIUM in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.write_sep(
            "=", f"{NO_CHROMIUM_SUMMARY} ({len(skipped)} tests)", yellow=True
        )
