"""The analysis job end to end: service traffic → Redis → job → reports."""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
from flask.testing import FlaskClient

from abflask import analysis
from abflask.analysis import job
from abflask.core.stats import sequential
from abflask.storage.localredis import LocalRedis
from abflask.storage.store import Store
from tests.helpers import PREFIX, Admin


def traffic(client: FlaskClient, users: range, seed: int) -> dict[str, dict[str, Any]]:
    """Enroll ``users`` in ``exp`` and send events; returns what each user did."""
    rng = random.Random(seed)
    truth: dict[str, dict[str, Any]] = {}
    events = []
    for i in users:
        user = f"user-{i}"
        answer = client.get(f"/process_user?user_id={user}&experiment=exp").json
        lift = 0.08 if answer["variation"] == "treatment" else 0.0
        bought = rng.random() < 0.2 + lift
        value = round(rng.uniform(5, 50), 2) if bought else 0.0
        truth[user] = {"variation": answer["variation"], "buy": bought, "value": value}
        if bought:
            events.append({"user_id": user, "event": "buy", "value": value})
        if rng.random() < 0.5:
            events.append({"user_id": user, "event": "view"})
    for start in range(0, len(events), 500):
        response = client.post(
            "/track/batch", json={"events": events[start : start + 500]}
        )
        assert response.status_code == 202
    return truth


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert analysis.main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def numbers(found: dict[str, Any]) -> list[float]:
    """Every number of a result, in order (for exact comparisons)."""
    out: list[float] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k in sorted(x):
                if k not in ("generated_at", "records_analysed", "timeseries"):
                    walk(x[k])
        elif isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, bool) or x is None or isinstance(x, str):
            return
        elif isinstance(x, int | float):
            out.append(float(x))

    walk(found)
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    left, right = numbers(a), numbers(b)
    assert len(left) == len(right) > 50
    for x, y in zip(left, right, strict=True):
        assert x == pytest.approx(y, rel=1e-9, abs=1e-12)


@pytest.fixture
def experiment(client: FlaskClient, admin: Admin) -> dict[str, dict[str, Any]]:
    admin.experiment("exp", metrics=["buy", "view"])
    return traffic(client, range(600), seed=1)


def test_results_match_what_users_did(
    env: Path, experiment: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    [found] = run_json(capsys, "--experiment", "exp")["experiments"]
    buy = found["metrics"][0]
    assert buy["event"] == "buy"
    for row in buy["variations"]:
        users = [u for u in experiment.values() if u["variation"] == row["name"]]
        assert row["participants"] == len(users)
        assert row["converters"] == sum(u["buy"] for u in users)
        assert row["mean"] == pytest.approx(sum(u["value"] for u in users) / len(users))
    assert found["participants"] == {
        name: sum(u["variation"] == name for u in experiment.values())
        for name in ("control", "treatment")
    }
    treatment = buy["variations"][1]["conversion"]
    assert treatment["p_value"] is not None and 0 <= treatment["p_value"] <= 1
    assert buy["variations"][0]["conversion"]["p_value"] is None  # control row
    assert isinstance(buy["verdict"], str) and "buy" in buy["verdict"]


def test_csv_export_analysed_with_input_gives_the_same_numbers(
    env: Path,
    experiment: dict[str, Any],
    admin: Admin,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [from_redis] = run_json(capsys, "--experiment", "exp")["experiments"]
    exported = env / "exp.csv"
    assert analysis.main(["--experiment", "exp", "--export", str(exported)]) == 0
    definition = env / "exp.json"
    definition.write_text(json.dumps(admin.get("/experiments/exp").json))
    [from_csv] = run_json(
        capsys, "--input", str(exported), "--definition", str(definition)
    )["experiments"]
    assert_same(from_redis, from_csv)
    assert from_csv["phase"] == from_redis["phase"]
    assert from_csv["decision"] == from_redis["decision"]
    assert [m["verdict"] for m in from_redis["metrics"]] == [
        m["verdict"] for m in from_csv["metrics"]
    ]


def test_incremental_run_equals_full_run(
    env: Path,
    client: FlaskClient,
    experiment: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    redis: redis_py.Redis,
) -> None:
    first = run_json(capsys, "--experiment", "exp")["experiments"][0]
    traffic(client, range(600, 900), seed=2)
    traffic(client, range(0, 300), seed=3)  # returning users buy again
    incremental = run_json(capsys, "--experiment", "exp")["experiments"][0]
    full = run_json(capsys, "--experiment", "exp", "--full")["experiments"][0]
    assert incremental["records_analysed"] == full["records_analysed"]
    assert incremental["records_analysed"] > first["records_analysed"]
    assert_same(incremental, full)
    position = int(redis.hget(f"{PREFIX}:x:{{exp}}:an", "pos") or 0)
    assert position == redis.llen(f"{PREFIX}:x:{{exp}}:log")


def test_missing_state_file_falls_back_to_full_read(
    env: Path, experiment: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_json(capsys, "--experiment", "exp")["experiments"][0]
    states = list((env / "data" / "analysis").rglob("*.npz"))
    assert states
    for state in states:
        state.unlink()
    again = run_json(capsys, "--experiment", "exp")["experiments"][0]
    assert_same(first, again)


def test_results_are_served_by_the_service(
    env: Path,
    experiment: dict[str, Any],
    admin: Admin,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert admin.get("/experiments/exp/results").status_code == 404
    [found] = run_json(capsys, "--experiment", "exp")["experiments"]
    served = admin.get("/experiments/exp/results")
    assert served.status_code == 200
    assert_same(served.json, found)


def test_second_run_exits_zero_while_the_lock_is_held(
    env: Path,
    experiment: dict[str, Any],
    redis_server: LocalRedis,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store.from_url(redis_server.url, prefix=PREFIX)
    assert store.acquire_lock(job.LOCK, "other-run", 60)
    html = env / "kept.html"
    html.write_text("the previous report")
    assert analysis.main(["--experiment", "exp", "--html", str(html)]) == 0
    assert capsys.readouterr().out == ""
    assert html.read_text() == "the previous report"
    assert "holds the lock" in caplog.text
    assert store.results("exp") is None
    store.release_lock(job.LOCK, "other-run")


def test_reports_are_written(
    env: Path, experiment: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    html, csv_dir = env / "report.html", env / "csv"
    code = analysis.main(["--csv", str(csv_dir), "--html", str(html)])
    assert code == 0
    table = capsys.readouterr().out
    assert "Experiment exp" in table and "metric buy" in table
    page = html.read_text()
    assert page.count("<svg") >= 2 and "exp" in page
    summary = (csv_dir / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("experiment,phase,decision,event,role,type")
    assert len(summary) == 1 + 2 * 2  # two metrics × two variations
    assert (csv_dir / "timeseries.csv").exists()


@pytest.mark.parametrize(
    "argv",
    [["--bogus"], ["--input", "x.csv"], ["--export", "x.csv"], ["--format", "xml"]],
    ids=[
        "unknown-flag",
        "input-without-experiment",
        "export-without-experiment",
        "bad-format",
    ],
)
def test_usage_errors_exit_2(env: Path, argv: list[str]) -> None:
    assert analysis.main(argv) == 2


def test_unreachable_redis_exits_1(
    env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REDIS_URL", "unix:///nonexistent/redis.sock")
    assert analysis.main([]) == 1
    assert "analysis failed" in caplog.text


def test_unknown_experiment_exits_1(env: Path, redis: redis_py.Redis) -> None:
    assert analysis.main(["--experiment", "nope"]) == 1


def test_bad_csv_exits_1(env: Path) -> None:
    bad = env / "bad.csv"
    bad.write_text("user,variation\n1,a\n")
    assert analysis.main(["--input", str(bad), "--experiment", "x"]) == 1


def test_a_weights_change_starts_a_phase_without_srm(
    env: Path, client: FlaskClient, admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    """Users enrolled 90/10, then 50/50: each phase matches its own weights."""
    admin.experiment("exp", weights=[0.9, 0.1], metrics=["buy"])
    traffic(client, range(800), seed=4)
    changed = admin.patch("/experiments/exp", json={"weights": [0.5, 0.5]}).json
    assert [p["weights"] for p in changed["phases"]] == [[0.9, 0.1], [0.5, 0.5]]
    start = changed["phases"][1]["started_at"]
    time.sleep(max(0.0, math.floor(start) + 1 - time.time()))  # the next second
    truth = traffic(client, range(800, 1600), seed=5)
    [current] = run_json(capsys, "--experiment", "exp")["experiments"]
    assert current["phase"]["index"] == 1 and current["phase"]["count"] == 2
    assert current["phase"]["weights"] == [0.5, 0.5]
    assert current["phase"]["started_at"] == start
    assert current["srm_warning"] is False
    assert current["srm_p_value"] > 0.001
    assert (
        current["decision"]["state"] != "unreliable"
        or "sample ratio" not in (current["decision"]["summary"])
    )
    assert current["participants"] == {
        name: sum(t["variation"] == name for t in truth.values())
        for name in ("control", "treatment")
    }
    [first] = run_json(capsys, "--experiment", "exp", "--phase", "0")["experiments"]
    assert first["phase"]["index"] == 0 and first["phase"]["weights"] == [0.9, 0.1]
    assert first["phase"]["ended_at"] == start
    assert first["srm_warning"] is False
    # Users enrolled in the second the weights changed belong to neither phase.
    boundary = first["excluded"]["phase_boundary"]
    assert boundary == current["excluded"]["phase_boundary"]
    assert sum(first["participants"].values()) + boundary == 800


def test_srm_is_flagged_when_the_split_does_not_match_the_weights(
    env: Path, client: FlaskClient, admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.experiment("exp", weights=[0.9, 0.1], metrics=["buy"])
    traffic(client, range(800), seed=4)
    exported = env / "exp.csv"
    assert analysis.main(["--experiment", "exp", "--export", str(exported)]) == 0
    # Read as if the weights had been 50/50: the 90/10 split is a mismatch.
    args = ["--input", str(exported), "--experiment", "exp", "--weights", "0.5,0.5"]
    [found] = run_json(capsys, *args)["experiments"]
    assert found["srm_warning"] is True
    assert found["srm_p_value"] < 0.001
    assert found["decision"]["state"] == "unreliable"
    assert "sample ratio mismatch" in found["decision"]["summary"]


def test_pipeline_numbers_agree_with_statsmodels(
    env: Path, experiment: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The job's numbers, from Redis, equal statsmodels/scipy on the raw users."""
    import numpy as np
    from scipy import stats as sps  # type: ignore[import-untyped]
    from statsmodels.stats import proportion  # type: ignore[import-untyped]
    from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]
    from statsmodels.stats.weightstats import (  # type: ignore[import-untyped]
        CompareMeans,
        DescrStatsW,
    )

    [found] = run_json(capsys, "--experiment", "exp")["experiments"]
    users = list(experiment.values())
    arms = [[u for u in users if u["variation"] == v] for v in ("control", "treatment")]
    converted = [np.array([u["buy"] for u in arm], float) for arm in arms]
    values = [np.array([u["value"] for u in arm]) for arm in arms]
    buy = found["metrics"][0]["variations"][1]

    counts = (converted[1].sum(), len(arms[1]), converted[0].sum(), len(arms[0]))
    z = proportion.test_proportions_2indep(*counts, method="wald", compare="diff")
    ci = proportion.confint_proportions_2indep(*counts, method="wald", compare="diff")
    assert buy["conversion"]["p_value"] == pytest.approx(z.pvalue, abs=1e-6)
    assert buy["conversion"]["abs_ci"] == pytest.approx(list(ci), abs=1e-6)

    welch = sps.ttest_ind(values[1], values[0], equal_var=False)
    tci = CompareMeans(DescrStatsW(values[1]), DescrStatsW(values[0])).tconfint_diff(
        usevar="unequal"
    )
    assert buy["value"]["p_value"] == pytest.approx(welch.pvalue, abs=1e-6)
    assert buy["value"]["abs_ci"] == pytest.approx(list(tci), abs=1e-6)

    # The SRM p-value is the always-valid one (checked against scipy's
    # Dirichlet-multinomial in test_sequential.py), on these counts.
    n = [len(a) for a in arms]
    srm = sequential.srm_sequential_p_value(n, [0.5, 0.5])
    assert found["srm_p_value"] == pytest.approx(srm, abs=1e-12)

    # buy (primary) and view (secondary) form one family.
    raw = [m["variations"][1]["conversion"]["p_value"] for m in found["metrics"]]
    holm = multipletests(raw, method="holm")[1]
    adjusted = [
        m["variations"][1]["conversion"]["p_value_adjusted"] for m in found["metrics"]
    ]
    assert adjusted == pytest.approx(list(holm), abs=1e-12)


def test_rate_intervals_agree_with_statsmodels(
    env: Path, experiment: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each variation's rate interval (the report's error bars) is the Wald one."""
    from statsmodels.stats import proportion  # type: ignore[import-untyped]

    [found] = run_json(capsys, "--experiment", "exp")["experiments"]
    users = list(experiment.values())
    for row in found["metrics"][0]["variations"]:
        arm = [u for u in users if u["variation"] == row["name"]]
        converters = sum(1 for u in arm if u["buy"])
        low, high = proportion.proportion_confint(
            converters, len(arm), alpha=0.05, method="normal"
        )
        assert row["conversion_rate_ci"] == pytest.approx([low, high], abs=1e-9)


def test_experiment_without_traffic_reports_not_enough_data(
    env: Path, admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.experiment("quiet", metrics=["buy"])
    [found] = run_json(capsys, "--experiment", "quiet")["experiments"]
    assert found["participants"] == {"control": 0, "treatment": 0}
    assert found["srm_warning"] is False
    [metric] = found["metrics"]
    assert metric["verdict"].startswith("too little data on buy: 0 participants")
    assert found["decision"]["state"] == "unreliable"
    assert metric["variations"][1]["conversion"]["p_value"] is None
    assert found["timeseries"]["points"] == []
    html = env / "quiet.html"
    assert analysis.main(["--experiment", "quiet", "--html", str(html)]) == 0
    assert "too little data on buy" in html.read_text()
