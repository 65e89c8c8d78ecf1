"""Dashboard login: tokens, roles, the session cookie, logout, redirects."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from abflask.storage import localredis
from tests.helpers import ADMIN_TOKEN, make_app
from tests.service.dashboard.markup import parse
from tests.service.dashboard.pages import VIEWER_TOKEN, Browser, csrf_of, log_in

PAGES = ["/", "/x/new", "/x/exp", "/x/exp/edit"]


def login_form(client: FlaskClient, token: str, next: str = "/") -> tuple[int, str]:
    csrf = csrf_of(client.get("/login"))
    answer = client.post("/login", data={"csrf": csrf, "token": token, "next": next})
    return answer.status_code, answer.headers.get("Location", "")


def test_the_login_form_has_the_token_field_and_button(client: FlaskClient) -> None:
    page = parse(client.get("/login").get_data(as_text=True))
    field = page.get("input", id="token")
    assert (field.attrs["name"], field.attrs["type"]) == ("token", "password")
    assert page.get("button", id="login").text == "Log in"


@pytest.mark.parametrize(
    ("token", "role"), [(ADMIN_TOKEN, "Admin"), (VIEWER_TOKEN, "Viewer")]
)
def test_a_token_logs_in_with_its_role(
    client: FlaskClient, token: str, role: str
) -> None:
    assert login_form(client, token) == (303, "/")
    page = parse(client.get("/").get_data(as_text=True))
    assert page.get(class_="who").text.startswith(role)
    assert page.find(id="experiments") is not None


@pytest.mark.parametrize("token", ["wrong-token-0123456789", "", ADMIN_TOKEN + "x"])
def test_a_bad_token_is_401_with_the_form_again(
    client: FlaskClient, token: str
) -> None:
    csrf = csrf_of(client.get("/login"))
    answer = client.post("/login", data={"csrf": csrf, "token": token})
    assert answer.status_code == 401
    page = parse(answer.get_data(as_text=True))
    assert "not the admin or the viewer token" in page.get("p", class_="error").text
    assert page.find("input", id="token") is not None
    assert client.get("/").status_code == 303  # still not logged in


@pytest.mark.parametrize("path", PAGES)
def test_every_page_redirects_to_login_without_a_session(
    client: FlaskClient, path: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/login?next=" + path


def test_login_goes_back_to_the_page_asked_for(
    dash: Browser, client: FlaskClient
) -> None:
    assert login_form(client, ADMIN_TOKEN, next="/x/new") == (303, "/x/new")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "x"])
def test_login_never_sends_elsewhere(client: FlaskClient, target: str) -> None:
    assert login_form(client, ADMIN_TOKEN, next=target) == (303, "/")


def test_the_live_counts_need_a_session_too(client: FlaskClient) -> None:
    assert client.get("/x/exp/live.json").status_code == 401


def test_the_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient) -> None:
    csrf = csrf_of(client.get("/login"))
    answer = client.post("/login", data={"csrf": csrf, "token": ADMIN_TOKEN})
    cookie = answer.headers["Set-Cookie"]
    parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert cookie.startswith("abflask_session=")
    assert {"httponly", "samesite", "expires"} <= parts
    assert "SameSite=Lax" in cookie
    assert "secure" not in parts  # plain HTTP here


def test_the_cookie_is_secure_over_https(client: FlaskClient) -> None:
    page = client.get("/login", base_url="https://localhost")
    answer = client.post(
        "/login",
        base_url="https://localhost",
        data={"csrf": csrf_of(page), "token": ADMIN_TOKEN},
    )
    assert answer.status_code == 303
    assert "; Secure" in answer.headers["Set-Cookie"]


def test_logout_ends_the_session(dash: Browser) -> None:
    answer = dash.post("/logout")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/login")
    assert dash.client.get("/").status_code == 303


def test_another_worker_accepts_the_session(
    dash: Browser, redis_server: localredis.LocalRedis
) -> None:
    """The key is derived from the admin token: every worker and restart agrees."""
    other = make_app(redis_server.url).test_client()
    cookie = dash.client.get_cookie("abflask_session")
    assert cookie is not None
    other.set_cookie("abflask_session", cookie.value)
    assert other.get("/").status_code == 200


def test_a_new_admin_token_ends_old_sessions(
    dash: Browser, redis_server: localredis.LocalRedis
) -> None:
    cookie = dash.client.get_cookie("abflask_session")
    assert cookie is not None
    for changed in (
        {"ABFLASK_ADMIN_TOKEN": "another-admin-token-0123456789"},
        {"ABFLASK_SECRET_KEY": "s" * 32},
    ):
        other = make_app(redis_server.url, **changed).test_client()
        other.set_cookie("abflask_session", cookie.value)
        assert other.get("/").status_code == 303, changed


def test_an_explicit_secret_key_keeps_sessions_across_token_changes(
    redis_server: localredis.LocalRedis, redis: object
) -> None:
    key = {"ABFLASK_SECRET_KEY": "k" * 40, "ABFLASK_VIEWER_TOKEN": VIEWER_TOKEN}
    first = make_app(redis_server.url, **key).test_client()
    log_in(first, "viewer")
    cookie = first.get_cookie("abflask_session")
    assert cookie is not None
    other = make_app(
        redis_server.url, ABFLASK_ADMIN_TOKEN="another-admin-token-0123456789", **key
    ).test_client()
    other.set_cookie("abflask_session", cookie.value)
    assert other.get("/").status_code == 200


def test_a_removed_viewer_token_ends_viewer_sessions(
    viewer: Browser, redis_server: localredis.LocalRedis
) -> None:
    cookie = viewer.client.get_cookie("abflask_session")
    assert cookie is not None
    other = make_app(redis_server.url).test_client()  # no viewer token
    other.set_cookie("abflask_session", cookie.value)
    assert other.get("/").status_code == 303


def test_without_tokens_the_dashboard_says_how_to_turn_it_on(
    redis_server: localredis.LocalRedis, redis: object
) -> None:
    client = make_app(redis_server.url, ABFLASK_ADMIN_TOKEN=None).test_client()
    page = client.get("/login")
    assert (
        "ABFLASK_ADMIN_TOKEN"
        in parse(page.get_data(as_text=True)).get(class_="error").text
    )
    assert (
        client.post("/login", data={"token": "anything-at-all-123"}).status_code == 403
    )
    assert client.get("/").status_code == 303


def test_the_assets_need_no_login(app: Flask) -> None:
    client = app.test_client()
    css = client.get("/assets/dashboard.css")
    js = client.get("/assets/dashboard.js")
    assert (css.status_code, css.mimetype) == (200, "text/css")
    assert js.status_code == 200 and "live.json" in js.get_data(as_text=True)
    css.close()
    js.close()
