"""The experiment page's results in Chromium: they fit at 1280 px and on a
phone, and the page's script swaps in new numbers without a reload.

The results are the analysis job's, run on a three-day CSV log of the
experiment the test creates (its definition, with the phase moved to the
log's start), and stored as the job stores them. The page at 1280 px is
saved as ``docs/screenshots/dashboard-experiment.png``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from abflask import analysis
from abflask.service.extension import get_services
from tests.helpers import ADMIN_TOKEN, ROOT, Admin

pytestmark = pytest.mark.browser

KEY = "checkout"
T0 = 1_795_000_000  # 2026-11-18 11:06:40 UTC
DAY = 86400
SCREENSHOT = ROOT / "docs" / "screenshots" / "dashboard-experiment.png"
METRICS = [
    "buy",
    {"event": "spend", "type": "value"},
    {"event": "refund", "role": "guardrail", "direction": "lower", "margin": 0.01},
]
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def write_log(path: Path, users: int = 6000, days: int = 3, seed: int = 11) -> Path:
    """Exposures over ``days`` from T0; treatment buys more (23% against 20%)
    and spends about the same; a few refunds in both."""
    rng = random.Random(seed)
    rows = ["user_id,variation,event,value,timestamp"]
    for i in range(users):
        variation = ("control", "treatment")[i % 2]
        exposed = T0 + i * days * DAY // users
        rows.append(f"{i:016x},{variation},$exposure,,{exposed}")
        if rng.random() < (0.23 if variation == "treatment" else 0.20):
            at = exposed + rng.randrange(3600)
            rows.append(f"{i:016x},,buy,,{at}")
            rows.append(f"{i:016x},,spend,{rng.randint(10, 80)},{at}")
            if rng.random() < 0.05:
                rows.append(f"{i:016x},,refund,,{at + 600}")
    path.write_text("\n".join(rows) + "\n")
    return path


def job_result(
    env: Path, capsys: pytest.CaptureFixture[str], definition: dict[str, Any]
) -> dict[str, Any]:
    """The job's result for ``definition`` on the ``write_log`` log."""
    definition["phases"][0]["started_at"] = T0 - 1
    file = env / "definition.json"
    file.write_text(json.dumps(definition))
    argv = ["--input", str(write_log(env / "log.csv")), "--definition", str(file)]
    assert analysis.main([*argv, "--no-write", "--format", "json"]) == 0
    [result] = json.loads(capsys.readouterr().out)["experiments"]
    return dict(result)


def store(app: Flask, result: dict[str, Any]) -> None:
    with app.app_context():
        get_services().store.save_results(KEY, result, 0, "", 0.0)


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Admin or viewer token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{url}/")


def test_results_fit_and_refresh(
    app: Flask,
    admin: Admin,
    client: FlaskClient,
    live_server: str,
    env: Path,
    capsys: pytest.CaptureFixture[str],
    page: Page,
) -> None:
    admin.experiment(KEY, name="Green checkout button", metrics=METRICS)
    result = job_result(env, capsys, admin.get(f"/experiments/{KEY}").json)
    store(app, result)
    for i in range(40):
        client.get(f"/process_user?user_id=u{i}&experiment={KEY}")

    log_in(page, live_server)
    page.goto(f"{live_server}/x/{KEY}")
    section = page.locator("#results")
    expect(section.locator("table.results")).to_have_count(3)
    expect(section.locator("svg[role=img]")).to_have_count(5)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    for box in page.locator(".table-box").all():  # no table scrolls either
        assert box.evaluate("e => e.scrollWidth <= e.clientWidth")
    page.screenshot(path=SCREENSHOT, full_page=True)

    # The script swaps in what changed, without a reload.
    page.evaluate("window.notReloaded = true")
    summary = "Ship treatment: a new analysis run says so."
    store(app, {**result, "decision": {**result["decision"], "summary": summary}})
    expect(page.locator("#decision")).to_have_text(summary, timeout=12_000)
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
