"""The experiment page's results in Chromium: they fit at 1280 px and on a
phone, and the page's script swaps in new live numbers without a reload.

The experiment's three days are replayed through the Store with each
moment's clock (the phase began then): enrollments and events in time order,
so the counters take their per-minute snapshots as they would have. Then
the test sends more users through the API and watches the table change. The
page at 1280 px is saved as ``dashboard-experiment.png`` (``--screenshots``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from abflask.core.event import parse_event
from abflask.service import management
from abflask.service.extension import get_services
from abflask.storage.packing import pack_event
from tests.helpers import ADMIN_TOKEN, Admin

pytestmark = pytest.mark.browser

KEY = "checkout"
DAY = 86400
METRICS = [
    "buy",
    {"event": "spend", "type": "value"},
    {"event": "refund", "role": "guardrail", "direction": "lower", "margin": 0.01},
]
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def replay(app: Flask, users: int = 6000, days: int = 3, seed: int = 11) -> None:
    """Start the experiment ``days`` and an hour ago and replay its users:
    exposures spread evenly; treatment buys more (23% against 20%) within
    the hour and spends about the same; a few refunds in both."""
    rng = random.Random(seed)
    t0 = time.time() - days * DAY - 3600
    with app.app_context():
        svc = get_services()
        exp = management.start_experiment(svc, KEY, t0)
        steps: list[tuple[float, int, str, dict[str, object] | None]] = []
        for i in range(users):
            exposed = t0 + 1 + i * days * DAY / users
            user = f"{i:016x}"
            steps.append((exposed, 0, user, None))
            rate = 0.23 if exp.candidate(user, exposed) == 1 else 0.20
            if rng.random() < rate:
                at = exposed + rng.randrange(3600)
                spent = rng.randint(10, 80)
                steps.append((at, 1, user, {"event": "buy"}))
                steps.append((at, 1, user, {"event": "spend", "value": spent}))
                if rng.random() < 0.05:
                    steps.append((at + 600, 1, user, {"event": "refund"}))
        for at, _, user, event in sorted(steps, key=lambda s: s[:2]):
            if event is None:
                svc.store.enroll(exp, user, exp.candidate(user, at), at)
                continue
            parsed = parse_event({"user_id": user, **event, "timestamp": at}, at)
            assert svc.store.track([exp], [pack_event(parsed)], at)[KEY] == "1"


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Admin or viewer token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{url}/")


def participants_shown(page: Page) -> list[str]:
    cells = page.locator("table.results").first.locator("td[data-label=Participants]")
    return cells.all_text_contents()


def test_results_fit_and_refresh(
    app: Flask,
    admin: Admin,
    client: FlaskClient,
    live_server: str,
    page: Page,
    screenshots: Path,
) -> None:
    admin.experiment(KEY, name="Green checkout button", metrics=METRICS, start=False)
    replay(app)

    log_in(page, live_server)
    page.goto(f"{live_server}/x/{KEY}")
    section = page.locator("#results")
    expect(section.locator("table.results")).to_have_count(3)
    expect(section.locator("svg[role=img]")).to_have_count(5)
    before = participants_shown(page)
    assert sum(int(n.replace(",", "")) for n in before) == 6000
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    for box in page.locator(".table-box").all():  # no table scrolls either
        assert box.evaluate("e => e.scrollWidth <= e.clientWidth")
    # the participants curve has a point per snapshot, spread over 3 days
    points = page.locator("svg#participants circle, svg#participants path")
    assert points.count() >= 2
    page.screenshot(path=screenshots / "dashboard-experiment.png", full_page=True)

    # New users through the API: the script swaps in the numbers, no reload.
    page.evaluate("window.notReloaded = true")
    for i in range(40):
        client.get(f"/process_user?user_id=new-{i}&experiment={KEY}")
    live = admin.get(f"/experiments/{KEY}/results?live=1").json
    now = [f"{live['participants'][v]:,}" for v in ("control", "treatment")]
    assert now != before and sum(live["participants"].values()) == 6040
    first = section.locator("table.results").first
    control = first.locator("td[data-label=Participants]").first
    expect(control).to_have_text(now[0], timeout=12_000)
    assert participants_shown(page) == now
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#live-status")).to_contain_text("Updated")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    head = page.locator("table.results thead").first.bounding_box()
    assert head is not None and head["height"] <= 1  # rows are stacked blocks
    lift = page.locator("table.results tr:not(.control) td[data-label='Lift']").first
    expect(lift).to_be_visible()
    for box in section.locator("figure.chart").all():
        found = box.bounding_box()
        assert found is not None and found["x"] + found["width"] <= 390


def test_the_list_with_segments_and_flag_rules_fits_a_phone(
    admin: Admin, live_server: str, page: Page, screenshots: Path
) -> None:
    admin.post("/segments", json={"key": "beta", "values": ["u-1", "u-2"]})
    eu = {"country": {"$in": ["DE", "FR", "IT", "ES"]}, "plan": "pro"}
    admin.post("/segments", json={"key": "eu-pro", "condition": eu})
    admin.experiment("checkout", name="Checkout button", segments=["eu-pro"])
    rule = {"condition": {"id": {"$inGroup": "beta"}}, "force": "green"}
    flag = {"key": "nav", "enabled": True, "rollout": 0.5, "rules": [rule]}
    admin.post("/flags", json={**flag, "value": "blue", "default": "grey"})
    log_in(page, live_server)
    page.goto(f"{live_server}/")
    rules = page.locator("#flags tr[data-key=nav] .rules")
    expect(rules).to_have_text(
        '1 targeting rule, then the rollout serves "blue"; otherwise "grey"'
    )
    used = page.locator("#segment-list tr[data-key=eu-pro] td").nth(3)
    expect(used).to_have_text("experiments: checkout")
    page.screenshot(path=screenshots / "dashboard-list.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
