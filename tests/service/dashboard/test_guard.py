"""CSRF on every dashboard POST, and the viewer who may look but not act."""

from __future__ import annotations

import pytest
import redis as redis_py

from tests.helpers import Admin, snapshot
from tests.service.dashboard.pages import Browser

ACTIONS = [
    ("/x/exp/start", {}),
    ("/x/exp/stop", {}),
    ("/x/exp/complete", {"winner": "treatment"}),
    ("/x/exp/phase", {"weights": "0.2, 0.8"}),
    ("/x/exp/delete", {"confirm": "exp"}),
    ("/x/exp/edit", {"name": "Renamed"}),
    ("/x/new", {"key": "other", "variations": "a, b"}),
    ("/f/nav", {"enabled": "false"}),
    ("/f/nav", {"rollout": "10"}),
]


@pytest.fixture
def seeded(admin: Admin) -> None:
    admin.experiment("exp")
    assert admin.post("/flags", json={"key": "nav", "enabled": True}).status_code == 201


@pytest.mark.parametrize(("path", "form"), ACTIONS)
@pytest.mark.parametrize("csrf", [None, "wrong", ""], ids=["none", "wrong", "empty"])
def test_a_post_without_the_right_csrf_token_is_403_and_writes_nothing(
    dash: Browser,
    seeded: None,
    redis: redis_py.Redis,
    path: str,
    form: dict[str, str],
    csrf: str | None,
) -> None:
    before = snapshot(redis)
    data = form if csrf is None else {**form, "csrf": csrf}
    answer = dash.client.post(path, data=data)
    assert answer.status_code == 403
    assert answer.mimetype == "text/plain"
    assert "Reload the page" in answer.get_data(as_text=True)
    assert snapshot(redis) == before


def test_logout_and_login_need_the_token_too(dash: Browser) -> None:
    assert dash.client.post("/logout").status_code == 403
    assert dash.client.get("/").status_code == 200  # still logged in
    assert dash.client.post("/login", data={"token": "x"}).status_code == 403


def test_the_header_carries_the_token_for_scripts(
    dash: Browser, seeded: None, admin: Admin
) -> None:
    answer = dash.client.post("/x/exp/stop", headers={"X-CSRF-Token": dash.csrf})
    assert answer.status_code == 303
    assert admin.get("/experiments/exp").json["status"] == "stopped"


def test_another_sessions_token_does_not_work(
    dash: Browser, viewer: Browser, seeded: None, redis: redis_py.Redis
) -> None:
    before = snapshot(redis)
    assert (
        dash.client.post("/x/exp/stop", data={"csrf": viewer.csrf}).status_code == 403
    )
    assert snapshot(redis) == before


@pytest.mark.parametrize(("path", "form"), ACTIONS)
def test_a_viewer_gets_403_on_every_action(
    viewer: Browser,
    seeded: None,
    redis: redis_py.Redis,
    path: str,
    form: dict[str, str],
) -> None:
    before = snapshot(redis)
    answer = viewer.post(path, **form)
    assert answer.status_code == 403
    assert "viewer" in answer.get_data(as_text=True)
    assert snapshot(redis) == before


@pytest.mark.parametrize("path", ["/x/new", "/x/exp/edit"])
def test_a_viewer_gets_403_on_the_forms(
    viewer: Browser, seeded: None, path: str
) -> None:
    assert viewer.client.get(path).status_code == 403


def test_a_viewer_sees_the_pages_without_actions(viewer: Browser, seeded: None) -> None:
    listed = viewer.page("/")
    assert listed.find(id="new-experiment") is None
    assert listed.find("button", class_="toggle") is None
    page = viewer.page("/x/exp")
    for button in ("start", "stop", "complete", "new-phase", "delete"):
        assert page.find(id=button) is None
    assert viewer.client.get("/x/exp/live.json").status_code == 200
