"""Dashboard test helpers: log in, read pages, post forms with their CSRF token."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from abflask.service.extension import get_services
from tests.helpers import ADMIN_TOKEN
from tests.service.dashboard.markup import Element, parse

VIEWER_TOKEN = "test-viewer-token-0123456789"
TOKENS = {"admin": ADMIN_TOKEN, "viewer": VIEWER_TOKEN}
RESULTS = Path(__file__).with_name("results.json")
"""One experiment's results as ``scripts/analyze.py --format json`` printed them
(control 53/450 purchases, green 64/450; keep running)."""


def csrf_of(response: TestResponse) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', response.get_data(as_text=True))
    assert found, "no CSRF field on the page"
    return found.group(1)


class Browser:
    """A test client that reads pages as trees and posts forms with their CSRF token."""

    def __init__(self, client: FlaskClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    def page(self, path: str, status: int = 200) -> Element:
        response = self.client.get(path)
        assert response.status_code == status, response.get_data(as_text=True)[:500]
        assert response.mimetype == "text/html"
        return parse(response.get_data(as_text=True))

    def post(self, path: str, **form: str) -> TestResponse:
        return self.client.post(path, data={"csrf": self.csrf, **form})

    def submit(self, path: str, status: int = 400, **form: str) -> Element:
        """Post a form expected to come back as a page (an error) with ``status``."""
        response = self.post(path, **form)
        assert response.status_code == status, response.get_data(as_text=True)[:500]
        return parse(response.get_data(as_text=True))


def log_in(client: FlaskClient, role: str) -> Browser:
    form = client.get("/login")
    answer = client.post(
        "/login", data={"csrf": csrf_of(form), "token": TOKENS[role], "next": "/"}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return Browser(client, csrf_of(client.get("/")))


def store_results(client: FlaskClient, key: str, **changes: Any) -> dict[str, Any]:
    """Store the sample results for experiment ``key``, as the analysis job does."""
    results = {**json.loads(RESULTS.read_text()), "key": key, **changes}
    app = client.application
    with app.app_context():
        get_services().store.save_results(key, results, 0, "", 0.0)
    return results


def cells(row: Element) -> list[str]:
    return [
        c.text for c in row.children if isinstance(c, Element) and c.tag in ("td", "th")
    ]
