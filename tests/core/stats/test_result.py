"""Tests for abflask.core.stats.result: summaries in, the result JSON out.

The job's end-to-end numbers are pinned in tests/analysis/test_results.py
(which also checks that summaries built from sums give the job's result);
these check what the pure half owns: the phase, the lead metric, one point
of the time series, and the result's shape and labels.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, cast

import pytest

from abflask.core.experiment import Experiment, Phase
from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.stats import result
from abflask.core.stats.inference import Summary, compare
from abflask.core.stats.result import MetricInput, series_point

T0 = 1_790_000_000.0
NAMES = ("control", "treatment")


def experiment(*metrics: Metric, phases: tuple[Phase, ...] = ()) -> Experiment:
    exp = Experiment(key="exp", variations=NAMES, metrics=metrics, status="running")
    return replace(exp, phases=phases)


def conversion(metric: Metric, *arms: tuple[int, int]) -> MetricInput:
    """A metric from (converters, participants) per variation, control first."""
    summaries = [Summary.of_counts(c, n) for c, n in arms]
    return MetricInput(metric, summaries, summaries, [c for c, _ in arms], True, None)


def build(
    exp: Experiment, counts: list[int], *metrics: MetricInput, **kwargs: object
) -> dict[str, object]:
    args: dict[str, object] = {
        "excluded": {
            "multiple_variations": 0,
            "phase_boundary": 0,
            "unattributed_events": 0,
        },
        "records_analysed": 123,
        "series": {"event": None, "points": []},
        "now": T0,
        **kwargs,
    }
    found = result.experiment_result(
        exp,
        result.select_phase(exp, None),
        counts,
        list(metrics),
        **args,  # type: ignore[arg-type]
    )
    return dict(found)


# --- phases and the lead metric ---------------------------------------------------


def test_an_experiment_without_phases_has_one_implicit_phase() -> None:
    exp = experiment()
    assert result.select_phase(exp, None) == result.Phase(
        0, 1, None, None, exp.effective_weights
    )
    assert result.select_phase(exp, 0) == result.select_phase(exp, None)
    with pytest.raises(ValueError, match="phase 1 does not exist"):
        result.select_phase(exp, 1)


def test_a_phase_ends_where_the_next_starts() -> None:
    exp = experiment(phases=(Phase(T0, (0.9, 0.1)), Phase(T0 + 100.5, (0.5, 0.5))))
    assert result.select_phase(exp, 0) == result.Phase(0, 2, T0, T0 + 100.5, (0.9, 0.1))
    assert result.select_phase(exp, None) == result.Phase(
        1, 2, T0 + 100.5, None, (0.5, 0.5)
    )
    with pytest.raises(ValueError, match="phases are 0-1"):
        result.select_phase(exp, 2)


@pytest.mark.parametrize(
    ("roles", "lead"),
    [
        ((), 0),
        (("primary",), 0),
        (("secondary", "guardrail", "primary", "primary"), 2),
        (("secondary", "guardrail"), 0),
    ],
)
def test_the_lead_metric_is_the_first_primary(
    roles: tuple[str, ...], lead: int
) -> None:
    metrics = [Metric(f"e{i}", role=role) for i, role in enumerate(roles)]
    assert result.lead_metric(metrics) == lead


# --- one point of the time series ---------------------------------------------------

SETTINGS = AnalysisSettings(alpha=0.1, planned_users=5_000)


@pytest.mark.parametrize("kind", ["conversion", "value"])
def test_a_series_point_is_the_tables_comparison(kind: str) -> None:
    if kind == "conversion":
        arms = [Summary.of_counts(120, 1000), Summary.of_counts(150, 990)]
    else:
        arms = [Summary(1000, 4.2, 30.0), Summary(990, 4.9, 36.0)]
    point = series_point(
        T0, [1000, 990], [120, 150], arms, Metric("buy", type=kind), SETTINGS, True
    )
    cmp = compare(*arms, kind, alpha=0.1, tuning=5_000.0)
    assert point == {
        "t": int(T0),
        "participants": [1000, 990],
        "converters": [120, 150],
        "lift": [
            {
                "abs_lift": cmp.abs_lift,
                "abs_ci_sequential": list(cmp.abs_ci_sequential),
                "rel_lift": cmp.rel_lift,
                "rel_ci_sequential": list(cmp.rel_ci_sequential),
            }
        ],
    }


def test_a_time_point_from_kept_lifts_is_the_series_point_and_fresh() -> None:
    arms = [Summary(1000, 4.2, 30.0), Summary(990, 4.9, 36.0), Summary(1, 2.0, 0.0)]
    metric = Metric("spend", type="value")
    lifts = result.series_lifts(arms, metric, SETTINGS, False)
    point = result.time_point(int(T0), [1000, 990, 1], [5, 6, 1], lifts)
    assert point == series_point(
        int(T0), [1000, 990, 1], [5, 6, 1], arms, metric, SETTINGS, False
    )
    point["lift"][0]["abs_ci_sequential"].append(1.0)  # a caller may change it
    again = result.time_point(int(T0), [1000, 990, 1], [5, 6, 1], lifts)
    assert len(again["lift"][0]["abs_ci_sequential"]) == 2
    assert again["lift"][1] == {
        "abs_lift": -2.2,
        "abs_ci_sequential": [None, None],
        "rel_lift": pytest.approx(-2.2 / 4.2),
        "rel_ci_sequential": [None, None],
    }


def test_the_result_spells_each_metric_and_the_settings_as_their_to_dict() -> None:
    metrics = (
        Metric("buy"),
        Metric("revenue", type="value", role="secondary", cap=50.0, window=3600),
        Metric("refund", role="guardrail", direction="lower", margin=0.02),
    )
    exp = replace(experiment(*metrics), analysis=AnalysisSettings(alpha=0.1))
    found = build(
        exp,
        [2000, 2000],
        *(conversion(m, (200, 2000), (210, 2000)) for m in metrics),
    )
    entries = cast(list[dict[str, Any]], found["metrics"])
    for metric, entry in zip(metrics, entries, strict=True):
        fields = metric.to_dict()
        assert list(entry)[: len(fields)] == list(fields)
        assert {name: entry[name] for name in fields} == fields
    settings = cast(dict[str, Any], found["settings"])
    assert list(settings.items()) == list(exp.analysis.to_dict().items())


def test_a_series_point_has_one_lift_per_treatment_and_nulls_when_undefined() -> None:
    arms = [Summary.of_counts(0, 0), Summary.of_counts(3, 10), Summary.of_counts(4, 9)]
    point = series_point(0, [0, 10, 9], [0, 3, 4], arms, Metric("buy"), SETTINGS, True)
    assert len(point["lift"]) == 2
    assert point["lift"][0] == {
        "abs_lift": None,
        "abs_ci_sequential": [None, None],
        "rel_lift": None,
        "rel_ci_sequential": [None, None],
    }


def test_a_conversions_band_stops_at_minus_100_percent_whatever_its_values() -> None:
    # The metric's values may be negative (refunds); its conversions are not.
    arms = [Summary.of_counts(60, 1000), Summary.of_counts(1, 1000)]
    metric = Metric("refund")
    point = series_point(0, [1000, 1000], [60, 1], arms, metric, SETTINGS, False)
    assert point["lift"][0]["rel_ci_sequential"][0] == -1.0


# --- the result ----------------------------------------------------------------------


def test_the_result_is_strict_json_with_its_labels() -> None:
    exp = experiment(Metric("buy"), Metric("refund", role="guardrail"))
    found = build(
        exp,
        [2000, 2000],
        conversion(Metric("buy"), (200, 2000), (320, 2000)),
        conversion(Metric("refund", role="guardrail"), (20, 2000), (21, 2000)),
    )
    json.dumps(found, allow_nan=False)
    assert found["source"] == "job"
    assert found["records_analysed"] == 123
    assert found["participants"] == {"control": 2000, "treatment": 2000}
    metrics = found["metrics"]
    assert isinstance(metrics, list)
    assert [m["source"] for m in metrics] == ["job", "job"]
    assert [m["note"] for m in metrics] == [None, None]
    assert metrics[0]["variations"][1]["outcome"] == "better"
    assert metrics[0]["variations"][0]["conversion"] == result.NULL_COMPARISON
    assert found["decision"] == {
        "state": "ship",
        "variation": "treatment",
        "summary": found["decision"]["summary"],  # type: ignore[index]
    }


def test_a_live_result_says_so_and_has_no_record_count() -> None:
    exp = experiment(Metric("buy"))
    given = conversion(Metric("buy"), (200, 2000), (210, 2000))
    found = build(exp, [2000, 2000], given, source="live", records_analysed=None)
    assert found["source"] == "live"
    assert found["records_analysed"] is None
    assert [m["source"] for m in found["metrics"]] == ["live"]  # type: ignore[attr-defined]
    job = build(exp, [2000, 2000], given)
    assert found["metrics"][0]["variations"] == job["metrics"][0]["variations"]  # type: ignore[index]


def test_a_sample_ratio_mismatch_makes_the_result_unreliable() -> None:
    exp = experiment(Metric("buy"))
    found = build(
        exp, [2600, 2000], conversion(Metric("buy"), (260, 2600), (300, 2000))
    )
    assert found["srm_warning"] is True
    assert found["decision"]["state"] == "unreliable"  # type: ignore[index]


def test_a_value_metric_reports_its_cap_sd_and_sign() -> None:
    metric = Metric("revenue", type="value", cap=50.0)
    value = [Summary(500, 3.0, 16.0), Summary(500, 3.5, 25.0)]
    given = MetricInput(
        metric,
        [Summary.of_counts(100, 500), Summary.of_counts(110, 500)],
        value,
        [100, 110],
        False,
        50.0,
    )
    found = build(experiment(metric), [500, 500], given)
    [m] = found["metrics"]  # type: ignore[misc]
    assert (m["cap_value"], m["nonnegative"]) == (50.0, False)
    assert [v["sd"] for v in m["variations"]] == [4.0, 5.0]
    assert [v["mean"] for v in m["variations"]] == [3.0, 3.5]
    assert m["variations"][1]["value"]["p_value_adjusted"] is not None
    assert m["variations"][1]["conversion"]["p_value_adjusted"] is None
