"""The dashboard in Chromium against the real service: gunicorn (``gunicorn.conf.py``,
two workers) on a loopback port, with the session's real redis-server.

Login and logout; create (an inline form error, then fixed) → start → live
participant counts that change without a reload as the test sends traffic
through the public API → stop → complete with a winner; CSRF; the read-only
viewer; delete with confirmation. The running experiment's page is saved as
``dashboard-live.png`` (``--screenshots``).

Selectors are labels, roles, text and the action ids (``start``, ``stop``,
``complete``, ``winner``, ``new-phase``, ``weights``, ``edit``, ``delete``,
``confirm``); the live counts are the elements of class ``live-participants``
with ``data-variation``. Writes are checked through the admin API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from abflask.storage import localredis
from tests.helpers import ADMIN_TOKEN, Gunicorn
from tests.service.dashboard.pages import VIEWER_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PREFIX = "dash"
LIVE = 15_000
"""Milliseconds to wait for a live change: the page polls every 5 s."""
ACTION_IDS = (
    "start",
    "stop",
    "complete",
    "winner",
    "new-phase",
    "weights",
    "edit",
    "delete",
    "confirm",
)


class Service(Gunicorn):
    """The service with two workers, the viewer token, and the test's traffic."""

    def __init__(self, redis_url: str, log: Path) -> None:
        super().__init__(
            redis_url,
            log,
            ABFLASK_WORKERS="2",
            ABFLASK_KEY_PREFIX=PREFIX,
            ABFLASK_VIEWER_TOKEN=VIEWER_TOKEN,
        )

    def experiment(self, key: str) -> Any:
        """The definition with its live counts (admin API); None if there is none."""
        status, answer = self.request("GET", f"/experiments/{key}", admin=True)
        assert status in (200, 404), (status, answer)
        return answer if status == 200 else None

    def create(self, key: str, start: bool = True) -> None:
        body = {"key": key, "variations": ["control", "green"], "metrics": ["purchase"]}
        self.admin("POST", "/experiments", body)
        if start:
            self.admin("POST", f"/experiments/{key}/start")

    def traffic(self, key: str, users: range) -> dict[str, int]:
        """Enrol ``users`` through ``/process_user``, then send a purchase by
        every third of them through ``/track/batch``; new enrolments per variation."""
        enrolled: dict[str, int] = {}
        buyers = []
        for i in users:
            user = f"user-{i}"
            status, answer = self.request(
                "GET", f"/process_user?user_id={user}&experiment={key}"
            )
            assert status == 200 and answer["in_experiment"], answer
            if answer["enrolled"]:
                enrolled[answer["variation"]] = enrolled.get(answer["variation"], 0) + 1
            if i % 3 == 0:
                buyers.append(
                    {"user_id": user, "event": "purchase", "value": 10 + i % 7}
                )
        status, answer = self.request("POST", "/track/batch", {"events": buyers})
        assert status == 202 and answer["recorded"] == len(buyers), answer
        return enrolled


@pytest.fixture(scope="module")
def service(
    browser: Browser,  # first: without a Chromium the test is skipped, nothing started
    redis_server: localredis.LocalRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    client = redis_server.client()
    for key in client.scan_iter(f"{PREFIX}:*"):
        client.delete(key)
    client.close()
    started = Service(redis_server.url, tmp_path_factory.mktemp("gunicorn") / "log")
    yield started
    started.stop()


def log_in(page: Page, service: Service, token: str) -> None:
    page.goto(service.url + "/login")
    page.get_by_label("Admin or viewer token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(service.url + "/")


def status_shown(page: Page, words: str) -> None:
    """The experiment page names the status ``words`` (e.g. "Running")."""
    pattern = re.compile(rf"^\W*{words}\W*$", re.IGNORECASE)
    expect(page.get_by_text(pattern).first).to_be_visible()


def live_cell(page: Page, variation: str) -> Any:
    return page.locator(f".live-participants[data-variation='{variation}']")


def expect_live(page: Page, counts: dict[str, int]) -> None:
    """The live cells show ``counts`` (digits compared, separators aside),
    within ``LIVE`` ms."""
    for variation, n in counts.items():
        pattern = re.compile(r"^\D*" + r"\D?".join(str(n)) + r"\D*$")
        expect(live_cell(page, variation)).to_have_text(pattern, timeout=LIVE)


def csrf_of(page: Page) -> str:
    """The session's CSRF token, from a form on the page (the logout form has one)."""
    return page.locator("input[name='csrf']").first.input_value()


# -- login --------------------------------------------------------------------


def test_login_with_the_admin_token_and_log_out(page: Page, service: Service) -> None:
    page.goto(service.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    token = page.get_by_label("Admin or viewer token")

    token.fill("not-the-token-0123456789")
    with page.expect_response(lambda r: r.request.method == "POST") as wrong:
        page.get_by_role("button", name="Log in").click()
    assert wrong.value.status == 401
    expect(page.get_by_text("not the admin or the viewer token")).to_be_visible()
    page.goto(service.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))

    log_in(page, service, ADMIN_TOKEN)
    expect(page.get_by_role("heading", name="Experiments", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="New experiment")).to_be_visible()
    [cookie] = [c for c in page.context.cookies() if c["name"] == "abflask_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert "abflask_session" not in page.evaluate("document.cookie")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(service.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


# -- the lifecycle ------------------------------------------------------------


def test_create_start_live_numbers_stop_and_complete(
    page: Page, service: Service, screenshots: Path
) -> None:
    key = "checkout-btn"
    log_in(page, service, ADMIN_TOKEN)
    page.get_by_role("link", name="New experiment").click()
    page.get_by_label("Key", exact=True).fill(key)
    page.get_by_label("Name", exact=True).fill("Green checkout button")
    page.get_by_label("Variations", exact=True).fill("control, green")
    page.get_by_label("Weights", exact=True).fill("0.5, 0.7")
    page.get_by_label("Metrics", exact=True).fill("purchase")

    # A bad weight: the API's error next to its field; nothing written.
    page.get_by_role("button", name="Create draft").click()
    error = page.get_by_text("weights: must sum to 1")
    expect(error).to_be_visible()
    below = page.get_by_label("Weights", exact=True).bounding_box()
    above = page.get_by_label("Coverage", exact=True).bounding_box()
    shown = error.bounding_box()
    assert below and above and shown
    assert below["y"] + below["height"] <= shown["y"] < above["y"], (
        below,
        shown,
        above,
    )
    expect(page.get_by_label("Key", exact=True)).to_have_value(key)
    assert service.experiment(key) is None

    page.get_by_label("Weights", exact=True).fill("0.5, 0.5")
    page.get_by_role("button", name="Create draft").click()
    expect(page).to_have_url(f"{service.url}/x/{key}")
    status_shown(page, "Draft")
    assert service.experiment(key)["status"] == "draft"

    page.locator("#start").click()
    status_shown(page, "Running")
    expect(page.locator("#stop")).to_be_visible()
    assert service.experiment(key)["status"] == "running"
    expect_live(page, {"control": 0, "green": 0})

    # Traffic through the public API: the counts change without a reload.
    page.evaluate("window.notReloaded = true")
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    counts = service.traffic(key, range(0, 400))
    expect_live(page, counts)
    more = service.traffic(key, range(400, 2600))  # thousands
    total = {v: counts.get(v, 0) + more.get(v, 0) for v in ("control", "green")}
    expect_live(page, total)
    assert page.evaluate("window.notReloaded") is True and not loads
    live = service.experiment(key)["counts"]
    assert {v["name"]: v["participants"] for v in live["variations"]} == total
    assert sum(v["events"]["purchase"]["users"] for v in live["variations"]) == len(
        range(0, 2600, 3)
    )

    # ... and so do the live results: the table's participants and buyers
    table = page.locator("#results table.results").first
    shown = {v: f"{n:,}" for v, n in total.items()}
    for i, variation in enumerate(("control", "green")):
        row = table.locator("tbody tr").nth(i)
        expect(row.locator("th")).to_contain_text(variation)
        cell = row.locator("td[data-label=Participants]")
        expect(cell).to_have_text(shown[variation], timeout=LIVE)
    expect(page.locator("#decision")).not_to_have_class(re.compile(r"\bnone\b"))
    assert page.evaluate("window.notReloaded") is True and not loads

    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=screenshots / "dashboard-live.png")

    page.locator("#stop").click()
    status_shown(page, "Stopped")
    expect(page.locator("#start")).to_be_visible()
    assert service.experiment(key)["status"] == "stopped"

    page.locator("#winner").select_option("green")
    page.locator("#complete").click()
    status_shown(page, "Completed")
    expect(
        page.get_by_text(re.compile(r"shipped\s+green", re.IGNORECASE))
    ).to_be_visible()
    for action in ("start", "stop", "complete"):
        expect(page.locator(f"#{action}")).to_have_count(0)
    done = service.experiment(key)
    assert done["status"] == "completed" and done["winner"] == "green"


# -- CSRF ---------------------------------------------------------------------


def test_a_post_without_the_right_csrf_token_is_refused(
    page: Page, service: Service
) -> None:
    key = "csrf-check"
    service.create(key)
    before = service.experiment(key)
    log_in(page, service, ADMIN_TOKEN)
    page.goto(f"{service.url}/x/{key}")
    stop = f"{service.url}/x/{key}/stop"

    # Requests from the logged-in context (its cookie goes along).
    for form in ({}, {"csrf": ""}, {"csrf": "wrong"}):
        answer = page.request.post(stop, form=form, max_redirects=0)
        assert answer.status == 403, (form, answer.status)
    wrong_header = {"X-CSRF-Token": "wrong"}
    answer = page.request.post(stop, headers=wrong_header, max_redirects=0)
    assert answer.status == 403

    # The page's own form with its token tampered with.
    page.evaluate("document.getElementById('stop').form.elements.csrf.value = 'x'")
    with page.expect_response(stop) as refused:
        page.locator("#stop").click()
    assert refused.value.status == 403
    expect(page.get_by_text("Forbidden")).to_be_visible()
    assert service.experiment(key) == before

    # The same request with the session's token goes through.
    page.goto(f"{service.url}/x/{key}")
    answer = page.request.post(stop, form={"csrf": csrf_of(page)}, max_redirects=0)
    assert answer.status == 303
    assert service.experiment(key)["status"] == "stopped"


# -- the viewer ---------------------------------------------------------------


def test_a_viewer_sees_the_pages_but_cannot_act(page: Page, service: Service) -> None:
    key = "viewer-check"
    service.create(key)
    counts = service.traffic(key, range(3000, 3040))
    before = service.experiment(key)
    log_in(page, service, VIEWER_TOKEN)

    expect(page.get_by_text("read-only").first).to_be_visible()
    expect(page.get_by_role("link", name="New experiment")).to_have_count(0)
    page.get_by_role("link", name=key).click()
    expect(page).to_have_url(f"{service.url}/x/{key}")
    status_shown(page, "Running")
    expect_live(page, counts)
    for action in ACTION_IDS:
        expect(page.locator(f"#{action}")).to_have_count(0)
    expect(page.locator(f"form[action^='/x/{key}']")).to_have_count(0)

    token = csrf_of(page)  # a valid token: the refusal is the role's
    for path, form in [
        ("stop", {}),
        ("complete", {"winner": "green"}),
        ("phase", {"weights": "0.2, 0.8"}),
        ("delete", {"confirm": key}),
        ("edit", {"name": "Renamed"}),
    ]:
        answer = page.request.post(
            f"{service.url}/x/{key}/{path}",
            form={"csrf": token, **form},
            max_redirects=0,
        )
        assert answer.status == 403, (path, answer.status)
        assert "viewer" in answer.text()
    assert page.request.get(f"{service.url}/x/{key}/edit").status == 403
    assert page.request.get(f"{service.url}/x/new").status == 403
    assert service.experiment(key) == before


# -- delete -------------------------------------------------------------------


def test_delete_needs_the_key_typed(page: Page, service: Service) -> None:
    key = "to-delete"
    service.create(key, start=False)
    log_in(page, service, ADMIN_TOKEN)
    page.goto(f"{service.url}/x/{key}")

    page.locator("#confirm").fill("not-it")
    with page.expect_response(f"{service.url}/x/{key}/delete") as refused:
        page.locator("#delete").click()
    assert refused.value.status == 400
    expect(page.get_by_text(f"type the experiment's key ({key})")).to_be_visible()
    assert service.experiment(key) is not None

    page.goto(f"{service.url}/x/{key}")
    page.locator("#confirm").fill(key)
    page.locator("#delete").click()
    expect(page).to_have_url(service.url + "/")
    expect(page.get_by_role("link", name=key)).to_have_count(0)
    assert service.experiment(key) is None
