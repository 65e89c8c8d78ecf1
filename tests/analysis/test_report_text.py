"""The terminal table: numbers in core.render's format, words for fields."""

from __future__ import annotations

from abflask.analysis import report_text
from tests.core.render.sample import result


def test_the_table_reads_in_words_and_percent() -> None:
    data = result(srm_warning=True, srm_p_value=0.0001)
    text = report_text.table(data)
    lines = text.splitlines()
    assert lines[0] == (
        "Experiment exp (running), phase 1 of 1, since 2026-11-18 11:06 UTC; "
        "split 50% / 50%: control 1,000, green 1,000 participants"
    )
    assert lines[1] == (
        "  DECISION: KEEP RUNNING — Keep running: no detectable difference yet on buy."
    )
    assert lines[2].startswith("  WARNING: Sample ratio mismatch")
    assert "(always-valid p < 0.001)" in lines[2]
    assert "  metric buy (Primary metric · conversion rate · higher is better)" in lines
    head = next(line for line in lines if line.lstrip().startswith("Variation"))
    for raw in ("rel_lift", "p_value", "conversion_rate"):
        assert raw not in head
    green = next(line for line in lines if line.lstrip().startswith("green"))
    assert green.split() == [
        "green",
        "1,000",
        "120",
        "12.0%",
        "—",
        "+20.0%",
        "[−5.0%,",
        "+45.0%]",
        "0.042",
        "0.042",
        "Inconclusive",
    ]


def test_a_metric_note_is_printed() -> None:
    data = result()
    data["metrics"][0]["note"] = "from the last job run"
    assert "  note: from the last job run" in report_text.table(data).splitlines()
