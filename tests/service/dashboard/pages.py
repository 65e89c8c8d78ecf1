"""Dashboard test helpers: log in, read pages, post forms with their CSRF token."""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from abflask.service.extension import get_services
from tests.helpers import ADMIN_TOKEN
from tests.service.dashboard.markup import Element, parse

VIEWER_TOKEN = "test-viewer-token-0123456789"
TOKENS = {"admin": ADMIN_TOKEN, "viewer": VIEWER_TOKEN}


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


def traffic(
    client: FlaskClient,
    key: str,
    plan: Mapping[str, tuple[int, int]],
    event: str = "purchase",
    value: float | None = None,
    prefix: str = "u",
) -> dict[str, list[str]]:
    """Enrol exactly ``plan[v][0]`` users in each variation ``v`` through
    ``/process_user``, then send ``event`` (with ``value``) through
    ``/track/batch`` for the first ``plan[v][1]`` of them; the users per
    variation.

    The users are picked with the experiment's own hash, so the counts are
    exact: no variation outside ``plan`` gets anyone.
    """
    with client.application.app_context():
        exp = get_services().store.get_experiment(key)
    assert exp is not None
    picked: dict[str, list[str]] = {v: [] for v in plan}
    i = 0
    while any(len(picked[v]) < n for v, (n, _) in plan.items()):
        user, i = f"{prefix}{i}", i + 1
        index = exp.candidate(user)
        chosen = exp.variations[index] if index >= 0 else None
        if chosen in picked and len(picked[chosen]) < plan[chosen][0]:
            picked[chosen].append(user)
    for variation, users in picked.items():
        for user in users:
            answer = client.get(f"/process_user?user_id={user}&experiment={key}")
            assert answer.json["variation"] == variation, answer.json
            assert answer.json["stored"], answer.json
    extra = {} if value is None else {"value": value}
    events = [
        {"user_id": user, "event": event, **extra}
        for variation, users in picked.items()
        for user in users[: plan[variation][1]]
    ]
    for start in range(0, len(events), 500):
        sent = client.post("/track/batch", json={"events": events[start : start + 500]})
        assert sent.status_code == 202, sent.json
    return picked


def cells(row: Element) -> list[str]:
    return [
        c.text for c in row.children if isinstance(c, Element) and c.tag in ("td", "th")
    ]
