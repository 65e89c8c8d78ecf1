"""Live results (``GET /experiments/<key>/results?live=1``) equal the job's.

Traffic goes through the real app and a real Redis: enrollments in two
phases (and in the second the new phase began), events before the exposure,
outside a window, above a fixed cap, negative totals, a percentile cap. Then
the analysis job reads the same event log, and every number of the two
results is compared to 1e-9.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from abflask.analysis.job import analyse_experiment
from abflask.core.experiment import Experiment
from abflask.core.stats.inference import Summary
from abflask.core.stats.result import lead_metric, select_phase, series_point
from abflask.service import live
from abflask.service.extension import get_services
from abflask.storage.counters import Cell, Snapshot
from abflask.storage.store import Store
from tests.helpers import Admin

METRICS = [
    {"event": "signup"},
    {"event": "revenue", "type": "value", "cap": 50.0},
    {
        "event": "refunds",
        "type": "value",
        "role": "guardrail",
        "direction": "lower",
        "margin": 0.05,
        "window": 3600,
    },
    {"event": "clicks", "role": "secondary", "window": 3600},
]
SKIP = {"generated_at", "records_analysed", "source", "live", "timeseries"}
"""What only one of the two results has, or computes on another time grid."""


def same(live: Any, job: Any, path: str = "") -> list[str]:
    """Where ``live`` and ``job`` differ (floats to 1e-9 relative)."""
    if isinstance(job, dict):
        keys = (set(job) | set(live)) - (SKIP if path == "" else {"source", "note"})
        return [
            d
            for k in sorted(keys)
            for d in same(live.get(k), job.get(k), f"{path}.{k}")
        ]
    if isinstance(job, list) and isinstance(live, list) and len(job) == len(live):
        return [
            d
            for i, (a, b) in enumerate(zip(live, job, strict=True))
            for d in same(a, b, f"{path}[{i}]")
        ]
    if isinstance(job, float) and isinstance(live, int | float):
        if math.isclose(live, job, rel_tol=1e-9, abs_tol=1e-12):
            return []
    elif live == job:
        return []
    return [f"{path}: live {live!r} != job {job!r}"]


def send_traffic(
    client: FlaskClient, users: list[str], now: float, rng: random.Random
) -> None:
    for user in users:
        answer = client.get(f"/process_user?user_id={user}&experiment=exp")
        assert answer.status_code == 200 and answer.json["stored"], answer.json
    events: list[dict[str, Any]] = []
    for user in users:
        treated = rng.random()
        if rng.random() < 0.3 + 0.1 * treated:
            events.append({"user_id": user, "event": "signup"})
        for _ in range(rng.randrange(3)):
            events.append(
                {
                    "user_id": user,
                    "event": "revenue",
                    "value": round(rng.expovariate(1 / 30), 2),
                }
            )
        if rng.random() < 0.2:
            events.append(
                {
                    "user_id": user,
                    "event": "refunds",
                    "value": -round(rng.uniform(1, 20), 2),
                }
            )
        if rng.random() < 0.1:  # a day later: outside the refunds window
            events.append(
                {
                    "user_id": user,
                    "event": "refunds",
                    "value": 5.0,
                    "timestamp": now + 7200,
                }
            )
        if rng.random() < 0.1:  # before the user's exposure: never attributed
            events.append({"user_id": user, "event": "signup", "timestamp": now - 600})
        if rng.random() < 0.5:
            events.append({"user_id": user, "event": "clicks", "value": 1.0})
    for i in range(0, len(events), 500):
        sent = client.post("/track/batch", json={"events": events[i : i + 500]})
        assert sent.status_code == 202, sent.json


def job_result(app: Flask, tmp_path: Path, phase: int) -> dict[str, Any]:
    with app.app_context():
        store: Store = get_services().store
    exp = store.get_experiment("exp")
    assert isinstance(exp, Experiment)
    result = analyse_experiment(
        store, exp, tmp_path, full=True, tty=False, now=time.time(), phase=phase
    )
    return dict(result)


def live_result(
    admin: Admin, phase: int | None = None, series: bool = False
) -> dict[str, Any]:
    query = ("" if phase is None else f"&phase={phase}") + ("&series=1" * series)
    answer = admin.get(f"/experiments/exp/results?live=1{query}")
    assert answer.status_code == 200, answer.json
    assert answer.json["source"] == "live"
    return dict(answer.json)


def test_live_numbers_equal_the_jobs_in_every_phase(
    app: Flask, client: FlaskClient, admin: Admin, tmp_path: Path
) -> None:
    rng = random.Random(11)
    admin.experiment("exp", variations=["control", "blue", "green"], metrics=METRICS)
    now = time.time()
    send_traffic(client, [f"a{i}" for i in range(600)], now, rng)
    changed = admin.post("/experiments/exp/phases", json={"weights": [0.5, 0.25, 0.25]})
    assert changed.status_code == 200, changed.json
    send_traffic(
        client, [f"b{i}" for i in range(40)], now, rng
    )  # maybe the boundary second
    time.sleep(1.05)
    send_traffic(client, [f"c{i}" for i in range(500)], now, rng)
    send_traffic(
        client, [f"a{i}" for i in range(300)], now, rng
    )  # phase-0 users return
    for phase in (0, 1):
        live = live_result(admin, phase)
        job = job_result(app, tmp_path, phase)
        assert sum(job["participants"].values()) > 300
        assert job["excluded"]["unattributed_events"] > 0
        assert same(live, job) == [], phase
        assert live["metrics"][1]["cap_value"] == 50.0
        assert not live["metrics"][2]["nonnegative"]
        assert live["live"]["not_live"] == []
    current = live_result(admin, series=True)
    assert current["phase"]["index"] == 1
    last = current["timeseries"]["points"][-1]
    assert last["participants"] == list(current["participants"].values())


def test_a_percentile_capped_metric_comes_from_the_last_job_run(
    app: Flask, client: FlaskClient, admin: Admin, tmp_path: Path
) -> None:
    metrics = [{"event": "revenue", "type": "value", "cap_percentile": 0.9}, "signup"]
    admin.experiment("exp", metrics=metrics)
    send_traffic(client, [f"u{i}" for i in range(300)], time.time(), random.Random(3))
    before = live_result(admin)
    [revenue, signup] = before["metrics"]
    assert revenue["source"] == "job" and "percentile" in revenue["note"]
    assert "not computed it yet" in revenue["note"]
    assert revenue["variations"][1]["participants"] == 0
    assert signup["source"] == "live" and signup["note"] is None
    assert before["live"]["not_live"] == ["revenue"]
    job = job_result(app, tmp_path, 0)
    after = live_result(admin)
    assert same(after, job) == []
    assert "last analysis run" in after["metrics"][0]["note"]
    assert after["live"]["job_generated_at"] == job["generated_at"]


@pytest.mark.parametrize(
    "metrics",
    [METRICS, [{"event": "refunds", "type": "value"}, *METRICS[:2]]],
    ids=["conversion-lead", "value-lead-with-negative-totals"],
)
def test_the_series_points_kept_per_snapshot_are_the_computed_ones(
    app: Flask, client: FlaskClient, admin: Admin, metrics: list[Any]
) -> None:
    admin.experiment("exp", variations=["control", "blue", "green"], metrics=metrics)
    send_traffic(client, [f"a{i}" for i in range(400)], time.time(), random.Random(5))
    with app.app_context():
        store: Store = get_services().store
    exp = store.get_experiment("exp")
    assert isinstance(exp, Experiment)
    counts, _, job = store.live(exp, series=True)
    phase = select_phase(exp, None)
    assert phase.started_at is not None
    lead = exp.metrics[lead_metric(exp.metrics)]
    now = counts.phase(str(phase.index), len(exp.variations))
    # A history: today's counters scaled down, a minute apart (as the
    # benchmark writes it).
    history = [
        Snapshot(
            int(phase.started_at) + 60 * i,
            str(phase.index),
            counts.ids[lead.event],
            [n * i // 8 for n in now.participants],
            [
                Cell(
                    users=c.users * i // 8,
                    sum=c.sum * i / 8,
                    sum_squares=c.sum_squares * i / 8,
                    negative=c.negative * i // 8,
                )
                for c in now.cells(lead.event)
            ],
        )
        for i in range(1, 9)
    ]
    live._snapshot_lifts.cache_clear()
    first = live.compute(exp, phase, counts, history, job, time.time())
    points = first["timeseries"]["points"]
    points[0]["lift"][0]["abs_ci_sequential"].append(0.0)  # a caller's own copy
    again = live.compute(exp, phase, counts, history, job, first["generated_at"])
    assert live._snapshot_lifts.cache_info().hits == len(history)
    expected = [
        series_point(
            s.t,
            s.participants,
            [c.users for c in s.cells],
            [
                Summary.of_counts(c.users, n)
                if lead.type == "conversion"
                else Summary.of_sums(n, c.sum, c.sum_squares)
                for c, n in zip(s.cells, s.participants, strict=True)
            ],
            lead,
            exp.analysis,
            all(c.negative == 0 for c in s.cells),
        )
        for s in history
    ]
    assert again["timeseries"]["points"][:-1] == expected
    assert any(p["lift"][0]["abs_lift"] for p in expected)
    if lead.type == "value":
        assert not all(c.negative == 0 for c in history[-1].cells)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("live=2", "live"),
        ("live=1&phase=1", "phase"),
        ("live=1&phase=-1", "phase"),
        ("phase=0", "phase"),
        ("live=1&when=now", "when"),
        ("live=1&series=yes", "series"),
        ("series=1", "series"),
    ],
)
def test_bad_live_parameters_are_named(admin: Admin, query: str, named: str) -> None:
    admin.experiment("exp")
    answer = admin.get(f"/experiments/exp/results?{query}")
    assert answer.status_code == 400
    assert answer.json["field"] == named, answer.json


def test_live_results_of_an_unknown_experiment_are_404(admin: Admin) -> None:
    assert admin.get("/experiments/nope/results?live=1").status_code == 404
