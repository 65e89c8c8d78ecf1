"""Numbers and words: one format for the dashboard and both reports."""

from __future__ import annotations

import math

import pytest

from abflask.core.render import format as fmt


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.1234, "12.3%"),
        (0.5, "50.0%"),
        (1.0, "100.0%"),
        (0.0012, "0.12%"),
        (0.000123, "0.012%"),
        (0.0, "0.0%"),
        (12.5, "1,250.0%"),
        (None, "—"),
        (math.nan, "—"),
        (True, "—"),
        ("0.5", "—"),
    ],
)
def test_rates_are_percentages_with_two_significant_digits_when_small(
    value: object, shown: str
) -> None:
    assert fmt.percent(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.052, "+5.2%"),
        (-0.1, "−10.0%"),
        (0.2075, "+20.8%"),
        (-0.0034, "−0.34%"),
        (None, "—"),
    ],
)
def test_lifts_are_signed_percentages_with_a_real_minus(
    value: object, shown: str
) -> None:
    assert fmt.lift(value) == shown


def test_intervals_show_both_ends_or_nothing() -> None:
    assert fmt.interval([-0.42, 1.6877]) == "[−42.0%, +168.8%]"
    assert fmt.interval([None, 0.3]) == "—"
    assert fmt.interval(None) == "—"
    assert fmt.interval([0.1, 0.2], fmt.percent) == "[10.0%, 20.0%]"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(12345, "12,345"), (1234567.4, "1,234,567"), (-3, "−3"), (None, "—")],
)
def test_counts_get_thousands_separators(value: object, shown: str) -> None:
    assert fmt.count(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (4.148777, "4.15"),
        (1234.5, "1,234.50"),
        (123456.7, "123,457"),
        (0.004321, "0.00432"),
        (0.0, "0.00"),
        (-2.5, "−2.50"),
    ],
)
def test_means_keep_three_significant_digits(value: float, shown: str) -> None:
    assert fmt.number(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.0421, "0.042"), (1.0, "1.000"), (0.0009, "< 0.001"), (None, "—")],
)
def test_p_values(value: object, shown: str) -> None:
    assert fmt.p_value(value) == shown


def test_p_values_in_a_sentence() -> None:
    assert fmt.p_is(0.0000123) == "p < 0.001"
    assert fmt.p_is(0.25) == "p = 0.250"


def test_times_are_utc() -> None:
    assert fmt.when(1_795_000_000) == "2026-11-18 11:06 UTC"
    assert fmt.iso(1_795_000_000) == "2026-11-18T11:06:40+00:00"
    assert fmt.when(None) == "—" and fmt.iso(None) == ""


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(5, "just now"), (60, "1 minute ago"), (3 * 3600 + 60, "3 hours ago")],
)
def test_ago(seconds: int, shown: str) -> None:
    assert fmt.ago(1000, 1000 + seconds) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (604800, "7 days"),
        (3600, "1 hour"),
        (5400, "90 minutes"),
        (90.5, "90.5 seconds"),
    ],
)
def test_durations_in_the_largest_whole_unit(seconds: float, shown: str) -> None:
    assert fmt.duration(seconds) == shown


def test_weights() -> None:
    assert fmt.weights([0.5, 0.5]) == "50% / 50%"
    assert fmt.weights([0.125, 0.875]) == "12.5% / 87.5%"
    assert fmt.weights([]) == "—"


def test_field_values_and_names_become_words() -> None:
    assert fmt.words("keep_running", fmt.DECISIONS) == "Keep running"
    assert fmt.words("too_little_data", fmt.OUTCOMES) == "Too little data"
    assert fmt.words("brand_new", fmt.OUTCOMES) == "Brand new"
    assert fmt.words(None, fmt.OUTCOMES) == "—"
    assert fmt.label("rel_ci_sequential") == "Always-valid interval of the lift"
    assert fmt.label("p_value_adjusted") == "Adjusted p-value"
    assert fmt.label("something_new") == "Something new"


def test_a_phase_in_words() -> None:
    phase = {
        "index": 1,
        "count": 2,
        "started_at": 1_795_000_000,
        "ended_at": None,
        "weights": [0.2, 0.8],
    }
    assert fmt.phase_text(phase, ["control", "green"]) == (
        "Phase 2 of 2, since 2026-11-18 11:06 UTC; split 20% / 80% (control / green)"
    )
    assert fmt.phase_text({**phase, "started_at": None}).startswith(
        "Phase 2 of 2, since the start"
    )


@pytest.mark.parametrize(
    ("direction", "margin", "words"),
    [
        ("lower", 0.02, "must not rise by more than 2.0%"),
        ("higher", None, "must not fall"),
    ],
)
def test_a_guardrail_says_what_it_guards(
    direction: str, margin: float | None, words: str
) -> None:
    metric = {"role": "guardrail", "direction": direction, "margin": margin}
    assert fmt.guard_text(metric) == words
    assert words in fmt.metric_text({**metric, "type": "value"})


def test_a_metric_in_words() -> None:
    metric = {
        "role": "primary",
        "type": "value",
        "direction": "lower",
        "cap_value": 100.0,
        "window": 604800,
    }
    assert fmt.metric_text(metric) == (
        "Primary metric · mean per participant · lower is better · "
        "capped at 100.00 per participant · counted for 7 days after exposure"
    )


def test_exclusions_are_warnings_or_notes() -> None:
    warnings, notes = fmt.exclusion_texts(
        {"multiple_variations": 1, "phase_boundary": 1200, "unattributed_events": 0}
    )
    assert warnings == [
        "1 user was exposed to more than one variation and left out of every number."
    ]
    assert notes and notes[0].startswith("1,200 users first exposed")
    assert fmt.exclusion_texts(
        {"multiple_variations": 0, "phase_boundary": 0, "unattributed_events": 0}
    ) == ([], [])
