"""Fixtures of the dashboard tests: the app with a viewer token, logged-in clients."""

from __future__ import annotations

import pytest
from flask import Flask

from abflask.storage import localredis
from tests.helpers import make_app
from tests.service.dashboard.pages import VIEWER_TOKEN, Browser, log_in


@pytest.fixture
def app(redis_server: localredis.LocalRedis, redis: object) -> Flask:
    """The test app, with a viewer token as well as the admin token."""
    return make_app(redis_server.url, ABFLASK_VIEWER_TOKEN=VIEWER_TOKEN)


@pytest.fixture
def dash(app: Flask) -> Browser:
    """A client logged in with the admin token."""
    return log_in(app.test_client(), "admin")


@pytest.fixture
def viewer(app: Flask) -> Browser:
    """A client logged in with the viewer token."""
    return log_in(app.test_client(), "viewer")
