"""Tests for abflask.core.metric: metric objects and analysis settings.

Pure: no Redis. Every bad input names the exact path of the bad part.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from abflask.core.metric import (
    MAX_METRICS,
    MAX_WINDOW,
    AnalysisSettings,
    Metric,
    analysis_from_stored,
    metrics_from_stored,
    parse_analysis,
    parse_metrics,
)
from abflask.errors import ValidationError

# --- parse_metrics: valid ------------------------------------------------------


def test_event_keys_are_shorthand_with_defaults() -> None:
    assert parse_metrics(["buy", "view", "refund"]) == (
        Metric("buy", "conversion", "primary", "higher"),
        Metric("view", "conversion", "secondary", "higher"),
        Metric("refund", "conversion", "secondary", "higher"),
    )


@pytest.mark.parametrize("raw", [None, []], ids=["null", "empty"])
def test_no_metrics(raw: Any) -> None:
    assert parse_metrics(raw) == ()


def test_an_object_needs_only_the_event() -> None:
    assert parse_metrics([{"event": "buy"}, {"event": "view"}]) == (
        Metric("buy"),
        Metric("view", role="secondary"),
    )


def test_every_field_is_kept() -> None:
    raw = [
        {"event": "signup", "role": "secondary"},
        {
            "event": "revenue",
            "type": "value",
            "role": "primary",
            "direction": "higher",
            "cap_percentile": 0.99,
            "window": 86_400,
        },
        {
            "event": "refund",
            "type": "value",
            "role": "guardrail",
            "direction": "lower",
            "margin": 0.02,
            "cap": 500,
        },
    ]
    assert parse_metrics(raw) == (
        Metric("signup", role="secondary"),
        Metric("revenue", "value", "primary", "higher", None, None, 0.99, 86_400),
        Metric("refund", "value", "guardrail", "lower", 0.02, 500.0, None, None),
    )


def test_null_fields_take_their_defaults() -> None:
    every = {name: None for name in Metric("x").to_dict()}
    assert parse_metrics([every | {"event": "a"}, every | {"event": "b"}]) == (
        Metric("a"),
        Metric("b", role="secondary"),
    )


@pytest.mark.parametrize(
    "metric",
    [
        Metric("buy"),
        Metric("refund", "value", "guardrail", "lower", 0.0, 10.5, None, 3600),
        Metric("revenue", "value", "secondary", "higher", None, None, 0.5, MAX_WINDOW),
    ],
    ids=["defaults", "guardrail-capped", "percentile-capped"],
)
def test_to_dict_has_every_field_and_parses_back(metric: Metric) -> None:
    data = json.loads(json.dumps(metric.to_dict()))
    assert set(data) == {
        "event",
        "type",
        "role",
        "direction",
        "margin",
        "cap",
        "cap_percentile",
        "window",
    }
    assert parse_metrics([data]) == (metric,)
    assert metrics_from_stored([data]) == (metric,)


def test_guardrail_margin_may_be_zero() -> None:
    (metric,) = parse_metrics([{"event": "x", "role": "guardrail", "margin": 0}])
    assert metric.margin == 0.0


def test_fifty_metrics_are_allowed() -> None:
    assert len(parse_metrics([f"e{i}" for i in range(MAX_METRICS)])) == MAX_METRICS


# --- parse_metrics: invalid ----------------------------------------------------


def guardrail(**fields: Any) -> dict[str, Any]:
    return {"event": "x", "role": "guardrail", **fields}


def value(**fields: Any) -> dict[str, Any]:
    return {"event": "x", "type": "value", **fields}


INVALID_METRICS = [
    ("not-a-list", "buy", "metrics"),
    ("object-not-list", {"event": "buy"}, "metrics"),
    ("too-many", [f"e{i}" for i in range(MAX_METRICS + 1)], "metrics"),
    ("entry-number", ["buy", 5], "metrics[1]"),
    ("entry-list", [["buy"]], "metrics[0]"),
    ("entry-null", [None], "metrics[0]"),
    ("reserved-key", ["$exposure"], "metrics[0]"),
    ("event-missing", ["a", {"type": "value"}], "metrics[1].event"),
    ("event-bad", [{"event": "a b"}], "metrics[0].event"),
    ("event-number", [{"event": 7}], "metrics[0].event"),
    ("unknown-field", ["a", {"event": "b", "colour": "red"}], "metrics[1].colour"),
    ("type-unknown", [{"event": "x", "type": "count"}], "metrics[0].type"),
    ("type-bool", [{"event": "x", "type": True}], "metrics[0].type"),
    ("role-unknown", [{"event": "x", "role": "goal"}], "metrics[0].role"),
    ("direction-unknown", [{"event": "x", "direction": "up"}], "metrics[0].direction"),
    ("margin-on-primary", [{"event": "x", "margin": 0.1}], "metrics[0].margin"),
    (
        "margin-on-secondary",
        ["a", {"event": "x", "margin": 0.1}],
        "metrics[1].margin",
    ),
    ("margin-1", [guardrail(margin=1)], "metrics[0].margin"),
    ("margin-negative", [guardrail(margin=-0.01)], "metrics[0].margin"),
    ("margin-bool", [guardrail(margin=True)], "metrics[0].margin"),
    ("margin-string", [guardrail(margin="0.1")], "metrics[0].margin"),
    ("margin-huge-int", [guardrail(margin=10**400)], "metrics[0].margin"),
    ("cap-on-conversion", [{"event": "x", "cap": 10}], "metrics[0].cap"),
    (
        "percentile-on-conversion",
        [{"event": "x", "cap_percentile": 0.9}],
        "metrics[0].cap_percentile",
    ),
    (
        "cap-and-percentile",
        [value(cap=10, cap_percentile=0.9)],
        "metrics[0].cap_percentile",
    ),
    ("cap-zero", [value(cap=0)], "metrics[0].cap"),
    ("cap-negative", [value(cap=-5)], "metrics[0].cap"),
    ("cap-huge-int", [value(cap=10**400)], "metrics[0].cap"),
    ("cap-bool", [value(cap=True)], "metrics[0].cap"),
    ("cap-string", [value(cap="10")], "metrics[0].cap"),
    ("percentile-below-half", [value(cap_percentile=0.4)], "metrics[0].cap_percentile"),
    ("percentile-1", [value(cap_percentile=1)], "metrics[0].cap_percentile"),
    ("percentile-bool", [value(cap_percentile=True)], "metrics[0].cap_percentile"),
    ("window-zero", [{"event": "x", "window": 0}], "metrics[0].window"),
    (
        "window-over-366-days",
        [{"event": "x", "window": MAX_WINDOW + 1}],
        "metrics[0].window",
    ),
    ("window-float", [{"event": "x", "window": 3600.0}], "metrics[0].window"),
    ("window-bool", [{"event": "x", "window": True}], "metrics[0].window"),
    ("window-string", [{"event": "x", "window": "3600"}], "metrics[0].window"),
    ("duplicate-keys", ["buy", "view", "buy"], "metrics[2]"),
    ("duplicate-objects", ["buy", {"event": "buy"}], "metrics[1].event"),
]


@pytest.mark.parametrize(
    ("raw", "field"),
    [case[1:] for case in INVALID_METRICS],
    ids=[case[0] for case in INVALID_METRICS],
)
def test_invalid_metrics_name_the_bad_field(raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_metrics(raw)
    assert info.value.field == field
    assert info.value.message.startswith(f"{field}: ")


# --- parse_analysis ----------------------------------------------------------


def test_analysis_defaults() -> None:
    expected = AnalysisSettings(0.05, 0.8, 0.05, 10_000, "sequential", "holm", 150)
    assert parse_analysis(None) == parse_analysis({}) == expected


def test_analysis_keeps_every_field() -> None:
    raw = {
        "alpha": 0.01,
        "power": 0.9,
        "mde": 0.1,
        "planned_users": 50_000,
        "mode": "fixed",
        "correction": "bh",
        "min_sample": 500,
    }
    settings = parse_analysis(raw)
    assert settings == AnalysisSettings(0.01, 0.9, 0.1, 50_000, "fixed", "bh", 500)
    assert settings.to_dict() == raw
    assert analysis_from_stored(raw) == settings


def test_analysis_null_fields_take_their_defaults() -> None:
    assert parse_analysis({"alpha": None, "mode": "fixed"}) == AnalysisSettings(
        mode="fixed"
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([0.05], "analysis"),
        ("fixed", "analysis"),
        ({"beta": 0.2}, "analysis.beta"),
        ({"alpha": 0.0005}, "analysis.alpha"),
        ({"alpha": 0.3}, "analysis.alpha"),
        ({"alpha": True}, "analysis.alpha"),
        ({"alpha": "0.05"}, "analysis.alpha"),
        ({"power": 0.4}, "analysis.power"),
        ({"power": 1}, "analysis.power"),
        ({"mde": 0}, "analysis.mde"),
        ({"mde": 11}, "analysis.mde"),
        ({"planned_users": 99}, "analysis.planned_users"),
        ({"planned_users": 10**10 + 1}, "analysis.planned_users"),
        ({"planned_users": 10_000.0}, "analysis.planned_users"),
        ({"planned_users": True}, "analysis.planned_users"),
        ({"mode": "bayesian"}, "analysis.mode"),
        ({"correction": "bonferroni"}, "analysis.correction"),
        ({"min_sample": 0}, "analysis.min_sample"),
        ({"min_sample": 10**6 + 1}, "analysis.min_sample"),
        ({"min_sample": 1.5}, "analysis.min_sample"),
    ],
    ids=[
        "list",
        "string",
        "unknown-field",
        "alpha-low",
        "alpha-high",
        "alpha-bool",
        "alpha-string",
        "power-low",
        "power-1",
        "mde-zero",
        "mde-high",
        "planned-low",
        "planned-high",
        "planned-float",
        "planned-bool",
        "mode-unknown",
        "correction-unknown",
        "min-sample-zero",
        "min-sample-high",
        "min-sample-float",
    ],
)
def test_invalid_analysis_names_the_bad_field(raw: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_analysis(raw)
    assert info.value.field == field


# --- stored forms --------------------------------------------------------------


def test_stored_event_keys_read_as_the_shorthand() -> None:
    assert metrics_from_stored(["buy", "view"]) == parse_metrics(["buy", "view"])
    assert metrics_from_stored(None) == ()


def test_stored_analysis_fills_missing_fields_with_defaults() -> None:
    assert analysis_from_stored(None) == AnalysisSettings()
    assert analysis_from_stored({"alpha": 0.01}) == AnalysisSettings(alpha=0.01)
