"""``--input``: analysing a CSV file as the job analyses Redis.

Bad cells are refused with their row and column and nothing on stdout; rows
are taken in time order; weights, phases and metrics come from
``--definition`` or the command line.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from abflask import analysis
from abflask.analysis import csvfile, report_html
from abflask.errors import ValidationError
from tests.helpers import Admin

HEADER = "user_id,variation,event,value,timestamp\n"
T0 = 1_700_000_000


def write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def good_rows(users: int = 4) -> list[str]:
    out = [
        f"u{i},{('control', 'treatment')[i % 2]},$exposure,,{T0}" for i in range(users)
    ]
    return out + [f"u{i},,buy,{i}.5,{T0 + 1}" for i in range(users)]


def run(
    capsys: pytest.CaptureFixture[str], csv: Path, *args: str, key: str = "x"
) -> tuple[int, str, str]:
    argv = ["--input", str(csv), "--experiment", key, "--format", "json", *args]
    code = analysis.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def result(
    capsys: pytest.CaptureFixture[str], csv: Path, *args: str, key: str = "x"
) -> Any:
    code, out, err = run(capsys, csv, *args, key=key)
    assert code == 0, err
    [found] = json.loads(out)["experiments"]
    return found


@pytest.mark.parametrize(
    ("cell", "column"),
    [
        ("inf", "value"),
        ("-inf", "value"),
        ("nan", "value"),
        ("NaN", "value"),
        ("1e999", "value"),
        ("lots", "value"),
    ],
)
def test_a_value_that_is_not_a_finite_number_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str], cell: str, column: str
) -> None:
    """An 'inf' value once crashed the run with truncated JSON on stdout."""
    rows = good_rows()
    rows[5] = f"u1,,buy,{cell},{T0 + 1}"
    code, out, err = run(capsys, write(env / "in.csv", rows))
    assert (code, out) == (1, "")
    assert f"row 7, column value: {cell!r} is not a finite number" in err


@pytest.mark.parametrize(
    "cell", ["-1", "1700000000.5", "", "soon", "1700000000000", "inf", "4294967296"]
)
def test_a_timestamp_that_is_not_whole_epoch_seconds_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    rows = good_rows()
    rows[2] = f"u2,control,$exposure,,{cell}"
    code, out, err = run(capsys, write(env / "in.csv", rows))
    assert (code, out) == (1, "")
    assert f"row 4, column timestamp: {cell!r} is not whole epoch seconds" in err


def test_the_first_bad_row_is_named_with_how_many_there_are(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = good_rows() + [f"u0,,buy,inf,{T0 + 2}"] * 3
    code, out, err = run(capsys, write(env / "in.csv", rows))
    assert (code, out) == (1, "")
    assert "row 10, column value: 'inf' is not a finite number (3 rows like it)" in err


@pytest.mark.parametrize("column", ["user_id", "event"])
def test_an_empty_user_or_event_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str], column: str
) -> None:
    rows = good_rows()
    rows[4] = f",,buy,1,{T0 + 1}" if column == "user_id" else f"u0,,,1,{T0 + 1}"
    code, out, err = run(capsys, write(env / "in.csv", rows))
    assert (code, out) == (1, "")
    assert f"row 6, column {column}: '' is empty" in err


def test_empty_values_and_whole_float_timestamps_are_accepted(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = good_rows() + [f"u0,,buy,,{T0}.0", f"u1,,buy, 2 ,{T0 + 3}"]
    found = result(capsys, write(env / "in.csv", rows), "--metrics", "buy")
    control, treatment = found["metrics"][0]["variations"]
    assert control["mean"] == pytest.approx((0.5 + 2.5) / 2)
    assert treatment["mean"] == pytest.approx((1.5 + 2 + 3.5) / 2)


def test_nothing_reaches_stdout_when_a_report_fails(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report_html, "write", fail)
    csv = write(env / "in.csv", good_rows())
    code, out, err = run(capsys, csv, "--html", str(env / "r.html"))
    assert (code, out) == (1, "")
    assert "disk full" in err


def test_rows_are_taken_in_time_order(env: Path) -> None:
    """Exposures first by time (then before events of the same second): a user
    exposed twice keeps the earliest exposure, whatever the file order."""
    rows = [
        f"a,treatment,$exposure,,{T0 + 50}",
        f"a,control,$exposure,,{T0 + 10}",
        f"b,treatment,buy,1,{T0 + 5}",  # the same second as b's exposure
        f"b,treatment,$exposure,,{T0 + 5}",
        f"c,control,buy,1,{T0 + 4}",  # before c's exposure
        f"c,control,$exposure,,{T0 + 5}",
    ]
    _, agg, names = csvfile.from_csv(write(env / "in.csv", rows), "x")
    users = agg.users
    found = [
        (int(r.variation), int(r.exposed_at), bool(r.multi)) for r in users.itertuples()
    ]
    assert sorted(found) == [
        (0, T0 + 5, False),  # c
        (0, T0 + 10, True),  # a: control first, then treatment
        (1, T0 + 5, False),  # b
    ]
    assert len(agg.pairs) == 1  # b's buy counts, c's does not
    assert agg.unattributed == 1
    assert list(names.values()) == ["buy"]


def test_purchases_dated_before_enrollment_do_not_convert(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit: 400 users with purchases 3 days before enrollment showed 100%."""
    rows = [
        f"u{i},{('control', 'treatment')[i % 2]},$exposure,,{T0}" for i in range(400)
    ]
    rows += [f"u{i},,purchase,20,{T0 - 3 * 86_400}" for i in range(400)]
    found = result(capsys, write(env / "in.csv", rows), "--metrics", "purchase")
    assert [v["converters"] for v in found["metrics"][0]["variations"]] == [0, 0]
    assert found["participants"] == {"control": 200, "treatment": 200}
    assert found["excluded"]["unattributed_events"] == 400


def test_windows_of_the_definition_cut_late_events(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = good_rows() + [f"u{i},,buy,1,{T0 + 7200}" for i in range(4)]
    definition = env / "exp.json"
    definition.write_text(
        json.dumps(
            {
                "key": "x",
                "variations": ["control", "treatment"],
                "metrics": [{"event": "buy", "window": 3600, "type": "value"}],
            }
        )
    )
    csv = write(env / "in.csv", rows)
    found = result(capsys, csv, "--definition", str(definition))
    assert [v["mean"] for v in found["metrics"][0]["variations"]] == [1.5, 2.5]
    assert found["excluded"]["unattributed_events"] == 4


def test_weights_make_an_unequal_split_healthy(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without weights every unequal split of a CSV was a sample ratio mismatch."""
    rows = [
        f"u{i},{'treatment' if i % 10 == 0 else 'control'},$exposure,,{T0}"
        for i in range(2000)
    ]
    csv = write(env / "in.csv", rows)
    assert result(capsys, csv)["srm_warning"] is True
    found = result(capsys, csv, "--weights", "0.9,0.1")
    assert found["srm_warning"] is False
    assert found["phase"]["weights"] == [0.9, 0.1]


def test_a_definition_names_the_experiment(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = env / "exp.json"
    definition.write_text('{"key": "from-file", "variations": ["control", "b"]}')
    rows = [r.replace("treatment", "b") for r in good_rows()]
    argv = [
        "--input",
        str(write(env / "in.csv", rows)),
        "--definition",
        str(definition),
    ]
    assert analysis.main([*argv, "--format", "json"]) == 0
    [found] = json.loads(capsys.readouterr().out)["experiments"]
    assert (found["key"], found["participants"]) == (
        "from-file",
        {"control": 2, "b": 2},
    )


@pytest.mark.parametrize("weights", ["0.5", "0.9,0.2", "a,b", "-0.1,1.1"])
def test_bad_weights_are_refused(
    env: Path, capsys: pytest.CaptureFixture[str], weights: str
) -> None:
    csv = write(env / "in.csv", good_rows())
    code, out, err = run(capsys, csv, f"--weights={weights}")
    assert (code, out) == (1, "")
    assert "--weights" in err


@pytest.mark.parametrize(
    "argv",
    [["--weights", "0.5,0.5"], ["--definition", "x.json"], ["--phase", "-1"]],
)
def test_csv_options_without_input_are_usage_errors(
    env: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert analysis.main(["--experiment", "x", *argv]) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"key": "x"}', "not an experiment"),
        (
            '{"key": "x", "variations": ["a", "b"], "metrics": [{"event": "e", '
            '"window": 0}]}',
            "metrics[0].window",
        ),
        (
            '{"key": "x", "variations": ["a", "b"], "phases": [{"started_at": 1, '
            '"weights": [1.0]}]}',
            "weights must be 2 numbers",
        ),
    ],
)
def test_a_bad_definition_is_refused(env: Path, text: str, message: str) -> None:
    path = env / "exp.json"
    path.write_text(text)
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        csvfile.load_definition(path)
    assert str(path) in str(caught.value)


def traffic(client: FlaskClient, users: range) -> None:
    events = []
    for i in users:
        client.get(f"/process_user?user_id=u{i}&experiment=exp")
        if i % 3:
            events.append({"user_id": f"u{i}", "event": "buy", "value": i % 7 + 0.25})
    for start in range(0, len(events), 500):
        answer = client.post("/track/batch", json={"events": events[start:][:500]})
        assert answer.status_code == 202


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal JSON results: numbers to 1e-9 (sums taken in another order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for key in a:
            if key != "generated_at":
                same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12) or (
            math.isnan(a) and math.isnan(b)
        ), path
    else:
        assert a == b, path


def test_export_with_its_definition_reads_as_redis_does(
    env: Path, client: FlaskClient, admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    """Weights, phases, metrics and settings of the definition: the same result."""
    metrics = [{"event": "buy", "type": "value", "window": 86_400}]
    admin.experiment("exp", weights=[0.7, 0.3], metrics=metrics)
    traffic(client, range(0, 300))
    phase = admin.post("/experiments/exp/phases", json={"weights": [0.5, 0.5]})
    assert phase.status_code == 200, phase.json
    traffic(client, range(300, 500))
    definition = env / "exp.json"
    definition.write_text(json.dumps(admin.get("/experiments/exp").json))
    export = env / "exp.csv"
    assert analysis.main(["--experiment", "exp", "--export", str(export)]) == 0
    for index in ("0", "1"):
        argv = ["--experiment", "exp", "--phase", index, "--format", "json"]
        assert analysis.main(argv) == 0
        [from_redis] = json.loads(capsys.readouterr().out)["experiments"]
        from_csv = result(
            capsys, export, "--definition", str(definition), "--phase", index, key="exp"
        )
        assert from_redis["phase"]["index"] == int(index)
        same(from_redis, from_csv)
    # Results of a chosen phase are shown, never stored over the current ones.
    assert admin.get("/experiments/exp/results").status_code == 404
