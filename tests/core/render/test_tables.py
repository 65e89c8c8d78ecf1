"""A result as HTML: decision, warnings, one table per metric, in words."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from abflask.core.render import style, tables
from tests.core.render.sample import HOUR, T0, comparison, metric, result, variation


class Cells(HTMLParser):
    """Every table cell's tag, attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, dict[str, str | None], str]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th"):
            self.cells.append((tag, dict(attrs), ""))
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and self.cells:
            tag, attrs, text = self.cells[-1]
            self.cells[-1] = (tag, attrs, (text + " " + data).strip())


def cells(markup: str) -> list[tuple[str, dict[str, str | None], str]]:
    parser = Cells()
    parser.feed(markup)
    return parser.cells


def text(markup: str) -> str:
    """The visible text, as a reader sees it."""
    spaced = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup))
    return html.unescape(re.sub(r" ([.,;])", r"\1", spaced)).strip()


def test_the_table_says_everything_in_words() -> None:
    out = tables.metric_table(result(), 0)
    found = cells(out)
    heads = [t for tag, a, t in found if a.get("scope") == "col"]
    assert heads == [
        "Variation",
        "Participants",
        "Conversion rate",
        "Lift",
        "95% interval of the lift",
        "p-value",
        "Outcome",
    ]
    rows = [t for tag, a, t in found if a.get("scope") != "col"]
    assert rows[:7] == ["control (control)", "1,000", "10.0%", "—", "—", "—", "—"]
    assert rows[7:] == [
        "green",
        "1,000",
        "12.0%",
        "+20.0%",
        "[−5.0%, +45.0%]",
        "0.042",
        "Inconclusive",
    ]
    for raw in ("rel_lift", "p_value", "inconclusive<", "None", "keep_running"):
        assert raw not in text(out)
    assert "Primary metric · conversion rate · higher is better" in text(out)
    verdict = '<p class="verdict">no detectable difference yet on buy.</p>'
    assert verdict in out  # the job's words; the CSS capitalises them
    assert "p.verdict::first-letter{text-transform:uppercase}" in style.CSS


def test_every_cell_is_labelled_for_the_stacked_phone_layout() -> None:
    body = [
        (tag, a)
        for tag, a, _ in cells(tables.metric_table(result(), 0))
        if a.get("scope") != "col"
    ]
    assert body and all(a.get("data-label") for _, a in body)
    labels = [a["data-label"] for _, a in body[:7]]
    assert labels[4] == "95% interval of the lift"


def test_phones_stack_the_rows_and_hide_the_controls_empty_cells() -> None:
    """Below the phone width a row is a block of 'label value' lines."""
    media = re.search(
        rf"@media \(max-width:{style.PHONE}px\)\{{(.*)\}}\s*$", style.CSS, re.S
    )
    assert media, style.CSS
    rules = media.group(1)
    assert "table.results,table.results :is(tbody,tr,th,td){display:block}" in rules
    assert "content:attr(data-label)" in rules
    assert "td.none{display:none}" in rules
    out = tables.metric_table(result(), 0)
    start = out.index("<tr class=control")
    control = out[start : out.index("</tr>", start)]
    assert control.count('class="num none"') == 3 and "class=none" in control


def test_a_value_metric_in_fixed_mode() -> None:
    data = result(
        metrics=[metric(type="value")],
        settings={"alpha": 0.1, "mode": "fixed", "correction": "holm"},
    )
    out = tables.metric_table(data, 0)
    heads = [t for _, a, t in cells(out) if a.get("scope") == "col"]
    assert heads[2] == "Mean per participant"
    assert heads[4] == "90% interval of the lift"
    green = [t for _, a, t in cells(out) if a.get("scope") != "col"][7:]
    assert green[2] == "3.60"
    assert "fixed-horizon" in tables.provenance(data, now=T0)


def test_a_guardrail_says_what_it_guards_and_how_bad_it_may_be() -> None:
    guard = metric(
        "refund",
        role="guardrail",
        direction="lower",
        margin=0.02,
        variations=[
            variation("control", 1000, 10),
            variation(
                "green", 1000, 11, comparison(0.1, [-0.3, 0.5]), "within_margin", -0.015
            ),
        ],
    )
    out = tables.metric_table(result(metrics=[guard]), 0)
    assert (
        "Guardrail metric · conversion rate · must not rise by more than 2.0%"
        in text(out)
    )
    assert "Within margin at worst 1.5% worse" in text(out)


def test_a_comparison_state_is_explained() -> None:
    m = metric()
    m["variations"][1]["conversion"]["state"] = "too_few"
    assert "too few participants to test" in tables.metric_table(result(metrics=[m]), 0)


def test_a_metric_note_is_shown() -> None:
    m = metric(note="percentile caps need the event log: from the last job run")
    out = tables.metric_table(result(metrics=[m]), 0)
    assert (
        '<p class="note">Percentile caps need the event log: from the last job run.</p>'
        in out
    )


def test_names_and_summaries_are_escaped() -> None:
    m = metric("<i>buy</i>")
    m["variations"][1]["name"] = "<b>green</b>"
    data = result(
        metrics=[m],
        decision={"state": "ship", "variation": "<b>green</b>", "summary": "Ship <b>"},
    )
    out = tables.results_section(data, now=T0)
    assert "<b>green" not in out and "<i>buy" not in out and "Ship <b>" not in out
    assert "&lt;b&gt;green&lt;/b&gt;" in out and "Ship &lt;b&gt;" in out


def test_the_decision_is_coloured_by_its_state() -> None:
    banner = tables.decision_banner(result(), id_prefix="exp-")
    assert banner.startswith('<div id="exp-decision" class="decision keep_running">')
    assert text(banner) == "Keep running: no detectable difference yet on buy."


def test_srm_and_exclusions_warn() -> None:
    data = result(
        srm_warning=True,
        srm_p_value=0.0000123,
        excluded={
            "multiple_variations": 3,
            "phase_boundary": 2,
            "unattributed_events": 41,
        },
    )
    banner = tables.srm_banner(data)
    assert 'id="srm" class="warn srm" role="alert"' in banner
    assert text(banner).startswith("Sample ratio mismatch. The variations'")
    assert "(always-valid p < 0.001)" in text(banner)
    assert tables.srm_banner(result()) == ""
    notes = tables.exclusions(data)
    assert '<div class="warn excluded">3 users were exposed' in notes
    assert "41 events did not count" in notes and "2 users first exposed" in notes


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (
            "job",
            "Computed by the analysis job 2026-11-18 13:06 UTC (1 hour ago) "
            "from 31,877 logged records.",
        ),
        ("live", "Live from the counters, 2026-11-18 13:06 UTC (1 hour ago)."),
    ],
)
def test_provenance(source: str, words: str) -> None:
    data = result(source=source, records_analysed=None if source == "live" else 31877)
    shown = text(tables.provenance(data, now=T0 + 3 * HOUR))
    assert shown.startswith(words)
    assert "always-valid" in shown


def test_the_section_has_everything_once() -> None:
    out = tables.results_section(
        result(), now=T0 + 3 * HOUR, notes=["These numbers are for phase 1."]
    )
    for piece in (
        'id="decision"',
        "Numbers for phase 1 of 1, since 2026-11-18 11:06 UTC; split 50% / 50%",
        'id="generated"',
        '<p class="note">These numbers are for phase 1.</p>',
        'class="results metric" data-event="buy"',
        'id="participants"',
        'id="lift"',
        'id="rates-0"',
    ):
        assert out.count(piece) == 1, piece


def test_a_page_that_says_when_it_was_made_leaves_the_time_out() -> None:
    shown = text(tables.provenance(result(), now=None))
    assert shown.startswith("Computed by the analysis job from 31,877 logged records.")
    assert 'id="generated"' not in tables.provenance(result(), now=None)
