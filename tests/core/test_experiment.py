"""Tests for abflask.core.experiment: parsing, decisions, lifecycle and patches.

Pure: no Redis and no clock. Every test passes ``now`` explicitly.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from abflask.core import bucketing as core
from abflask.core.experiment import Experiment, Phase, parse_experiment
from abflask.core.metric import AnalysisSettings, Metric
from abflask.core.segment import Segment
from abflask.errors import ConflictError, ValidationError

NOW = 1_700_000_000.0
LATER = NOW + 50
"""When tests patch an experiment."""
IDS = [f"user-{i}" for i in range(10_000)]
MISSING = object()
"""Marks a field to leave out of a payload built by ``body``."""


def body(**changes: Any) -> dict[str, Any]:
    """A minimal valid experiment body with ``changes`` applied."""
    payload: dict[str, Any] = {
        "key": "checkout-btn",
        "variations": ["control", "green"],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not MISSING}


def draft(**changes: Any) -> Experiment:
    return parse_experiment(body(**changes), now=NOW)


def running(**changes: Any) -> Experiment:
    return draft(**changes).start(NOW + 10)


# --- parse_experiment: valid bodies ------------------------------------------


def test_minimal_body_gives_a_draft_with_defaults() -> None:
    exp = parse_experiment(body(), now=NOW)
    assert (
        exp.key,
        exp.variations,
        exp.name,
        exp.seed,
        exp.weights,
        exp.coverage,
        exp.hash_version,
        exp.max_participants,
        exp.metrics,
        exp.namespace,
        exp.status,
        exp.created_at,
        exp.started_at,
        exp.version,
    ) == (
        "checkout-btn",
        ("control", "green"),
        "checkout-btn",
        "checkout-btn",
        None,
        1.0,
        2,
        None,
        (),
        None,
        "draft",
        NOW,
        None,
        0,
    )


def test_full_body_keeps_every_field() -> None:
    exp = draft(
        name="Checkout button",
        variations=["a", "b", "c"],
        weights=[0.2, 0.3, 0.5],
        coverage=0.5,
        seed="s1",
        hash_version=1,
        max_participants=100,
        metrics=["purchase", "signup"],
        namespace={"id": "ns", "range": [0.25, 0.75]},
    )
    assert (
        exp.name,
        exp.variations,
        exp.weights,
        exp.coverage,
        exp.seed,
        exp.hash_version,
        exp.max_participants,
        exp.metrics,
        exp.namespace,
    ) == (
        "Checkout button",
        ("a", "b", "c"),
        (0.2, 0.3, 0.5),
        0.5,
        "s1",
        1,
        100,
        (Metric("purchase"), Metric("signup", role="secondary")),
        ("ns", 0.25, 0.75),
    )


@pytest.mark.parametrize(
    "namespace",
    [{"id": "ns", "range": [0, 0.5]}, ["ns", 0, 0.5]],
    ids=["object-form", "list-form"],
)
def test_namespace_forms_are_accepted(namespace: Any) -> None:
    assert draft(namespace=namespace).namespace == ("ns", 0.0, 0.5)


# --- parse_experiment: invalid bodies ----------------------------------------

INVALID_EXPERIMENTS = [
    ("key-missing", body(key=MISSING), "key"),
    ("key-65-chars", body(key="k" * 65), "key"),
    ("key-space", body(key="a b"), "key"),
    ("key-slash", body(key="x/y"), "key"),
    ("key-empty", body(key=""), "key"),
    ("key-not-string", body(key=5), "key"),
    ("variations-missing", body(variations=MISSING), "variations"),
    ("variations-not-list", body(variations="a,b"), "variations"),
    ("variations-1-item", body(variations=["a"]), "variations"),
    (
        "variations-21-items",
        body(variations=[f"v{i}" for i in range(21)]),
        "variations",
    ),
    ("variations-duplicates", body(variations=["a", "a"]), "variations"),
    ("variations-non-string", body(variations=["a", 2]), "variations[1]"),
    ("variations-empty-string", body(variations=["", "b"]), "variations[0]"),
    ("weights-not-list", body(weights=0.5), "weights"),
    ("weights-wrong-length", body(weights=[0.2, 0.3, 0.5]), "weights"),
    ("weights-negative", body(weights=[-0.5, 1.5]), "weights[0]"),
    ("weights-sum-not-1", body(weights=[0.5, 0.4]), "weights"),
    ("weights-nan", body(weights=[math.nan, 0.5]), "weights[0]"),
    ("weights-bool", body(weights=[True, False]), "weights[0]"),
    ("weights-beyond-float-range", body(weights=[1, 10**400]), "weights[1]"),
    ("coverage-beyond-float-range", body(coverage=10**400), "coverage"),
    ("cap-beyond-float-range", body(max_participants=10**400), "max_participants"),
    (
        "namespace-end-beyond-float-range",
        body(namespace=["ns", 0, 10**400]),
        "namespace.range[1]",
    ),
    (
        "namespace-start-beyond-float-range",
        body(namespace=["ns", -(10**400), 1]),
        "namespace.range[0]",
    ),
    ("coverage-negative", body(coverage=-0.1), "coverage"),
    ("coverage-above-1", body(coverage=1.1), "coverage"),
    ("coverage-string", body(coverage="1"), "coverage"),
    ("coverage-bool", body(coverage=True), "coverage"),
    ("hash-version-3", body(hash_version=3), "hash_version"),
    ("hash-version-string", body(hash_version="2"), "hash_version"),
    ("hash-version-bool", body(hash_version=True), "hash_version"),
    ("cap-zero", body(max_participants=0), "max_participants"),
    ("cap-negative", body(max_participants=-1), "max_participants"),
    ("cap-float", body(max_participants=1.5), "max_participants"),
    ("cap-bool", body(max_participants=True), "max_participants"),
    ("metrics-not-list", body(metrics="purchase"), "metrics"),
    ("metrics-reserved-key", body(metrics=["$exposure"]), "metrics[0]"),
    ("metrics-space", body(metrics=["ok", "a b"]), "metrics[1]"),
    ("metrics-duplicates", body(metrics=["buy", "buy"]), "metrics[1]"),
    ("namespace-string", body(namespace="ns"), "namespace"),
    ("namespace-list-of-2", body(namespace=["ns", 0.5]), "namespace"),
    ("namespace-no-range", body(namespace={"id": "ns"}), "namespace"),
    (
        "namespace-extra-key",
        body(namespace={"id": "ns", "range": [0, 1], "x": 1}),
        "namespace",
    ),
    ("namespace-bad-id", body(namespace=["a b", 0, 0.5]), "namespace.id"),
    (
        "namespace-range-not-list",
        body(namespace={"id": "ns", "range": "0-1"}),
        "namespace.range",
    ),
    (
        "namespace-range-3-items",
        body(namespace={"id": "ns", "range": [0, 0.5, 1]}),
        "namespace.range",
    ),
    ("namespace-start-equals-end", body(namespace=["ns", 0.5, 0.5]), "namespace.range"),
    ("namespace-start-after-end", body(namespace=["ns", 0.6, 0.4]), "namespace.range"),
    (
        "namespace-start-negative",
        body(namespace=["ns", -0.1, 0.5]),
        "namespace.range[0]",
    ),
    ("namespace-end-above-1", body(namespace=["ns", 0, 1.5]), "namespace.range[1]"),
    ("unknown-field", body(wieghts=[0.5, 0.5]), "wieghts"),
    ("name-too-long", body(name="n" * 201), "name"),
    ("seed-empty", body(seed=""), "seed"),
]


@pytest.mark.parametrize(
    ("payload", "field"),
    [case[1:] for case in INVALID_EXPERIMENTS],
    ids=[case[0] for case in INVALID_EXPERIMENTS],
)
def test_invalid_experiment_names_the_bad_field(
    payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_experiment(payload, now=NOW)
    assert info.value.field == field


@pytest.mark.parametrize(
    "payload", [None, [], "checkout-btn"], ids=["null", "list", "string"]
)
def test_experiment_body_must_be_an_object(payload: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_experiment(payload, now=NOW)
    assert info.value.field == "body"


# --- Experiment.candidate ----------------------------------------------------


def test_candidate_is_deterministic() -> None:
    first = [draft().candidate(user) for user in IDS[:500]]
    again = [draft().candidate(user) for user in IDS[:500]]
    assert first == again


def test_candidate_split_follows_weights() -> None:
    exp = draft(weights=[0.2, 0.8])
    picks = [exp.candidate(user) for user in IDS]
    # Binomial sd for n=10,000 and p=0.2 is 40: ±200 is five sd.
    assert abs(picks.count(0) - 2000) < 200
    assert picks.count(0) + picks.count(1) == len(IDS)


def test_candidate_is_excluded_everywhere_at_zero_coverage() -> None:
    exp = draft(coverage=0)
    assert {exp.candidate(user) for user in IDS} == {-1}


def test_candidate_excludes_users_outside_the_namespace() -> None:
    namespace = ("ns", 0.25, 0.75)
    exp = draft(namespace=list(namespace))
    inside = [core.in_namespace(user, namespace) for user in IDS]
    enrolled = [exp.candidate(user) != -1 for user in IDS]
    assert any(inside) and not all(inside)
    assert enrolled == inside


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"weights": [0.2, 0.8]},
        {"coverage": 0.5},
        {"hash_version": 1},
        {"seed": "other-seed"},
        {"variations": ["a", "b", "c"]},
        {"variations": ["a", "b", "c"], "weights": [0.5, 0.25, 0.25], "coverage": 0.7},
    ],
    ids=[
        "defaults",
        "weights",
        "coverage",
        "hash-v1",
        "seed",
        "three-equal",
        "three-weighted-partial",
    ],
)
def test_candidate_equals_core_choose_variation(changes: dict[str, Any]) -> None:
    exp = draft(**changes)
    weights = list(exp.weights) if exp.weights is not None else None
    expected = [
        core.choose_variation(
            user,
            exp.seed,
            weights,
            exp.coverage,
            exp.hash_version,
            n=len(exp.variations),
        )
        for user in IDS[:2000]
    ]
    assert [exp.candidate(user) for user in IDS[:2000]] == expected


# --- lifecycle ---------------------------------------------------------------


def test_start_makes_a_draft_running() -> None:
    exp = draft().start(NOW + 10)
    assert (exp.status, exp.started_at, exp.stopped_at) == ("running", NOW + 10, None)


def test_stop_records_the_stop_time() -> None:
    exp = running().stop(NOW + 20)
    assert (exp.status, exp.stopped_at) == ("stopped", NOW + 20)


def test_restart_keeps_the_first_start_time() -> None:
    exp = running().stop(NOW + 20).start(NOW + 30)
    assert (exp.status, exp.started_at, exp.stopped_at) == ("running", NOW + 10, None)


def test_complete_from_running_records_winner_and_times() -> None:
    exp = running().complete("green", NOW + 40)
    assert (exp.status, exp.winner, exp.stopped_at, exp.completed_at) == (
        "completed",
        1,
        NOW + 40,
        NOW + 40,
    )


def test_complete_from_stopped_keeps_the_stop_time() -> None:
    exp = running().stop(NOW + 20).complete("control", NOW + 40)
    assert (exp.status, exp.winner, exp.stopped_at, exp.completed_at) == (
        "completed",
        0,
        NOW + 20,
        NOW + 40,
    )


def _in_status(status: str) -> Experiment:
    exp = draft()
    if status in ("running", "stopped", "completed"):
        exp = exp.start(NOW + 10)
    if status == "stopped":
        exp = exp.stop(NOW + 20)
    if status == "completed":
        exp = exp.complete("green", NOW + 30)
    assert exp.status == status
    return exp


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("running", "start"),
        ("completed", "start"),
        ("draft", "stop"),
        ("stopped", "stop"),
        ("completed", "stop"),
        ("draft", "complete"),
        ("completed", "complete"),
    ],
    ids=[
        "start-running",
        "start-completed",
        "stop-draft",
        "stop-stopped",
        "stop-completed",
        "complete-draft",
        "complete-completed",
    ],
)
def test_invalid_transition_is_a_conflict(status: str, action: str) -> None:
    exp = _in_status(status)
    with pytest.raises(ConflictError):
        if action == "complete":
            exp.complete("green", NOW + 50)
        else:
            getattr(exp, action)(NOW + 50)


@pytest.mark.parametrize(
    "winner", ["blue", 1, None, ["green"]], ids=["unknown", "int", "null", "list"]
)
def test_complete_rejects_a_bad_winner(winner: Any) -> None:
    with pytest.raises(ValidationError) as info:
        running().complete(winner, NOW + 40)
    assert info.value.field == "winner"


# --- Experiment.patch --------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "attribute", "expected"),
    [
        ({"name": "New"}, "name", "New"),
        ({"variations": ["a", "b", "c"]}, "variations", ("a", "b", "c")),
        ({"weights": [0.3, 0.7]}, "weights", (0.3, 0.7)),
        ({"coverage": 0.4}, "coverage", 0.4),
        ({"seed": "s2"}, "seed", "s2"),
        ({"hash_version": 1}, "hash_version", 1),
        ({"max_participants": 50}, "max_participants", 50),
        ({"metrics": ["buy"]}, "metrics", (Metric("buy"),)),
        ({"namespace": ["ns", 0, 0.5]}, "namespace", ("ns", 0.0, 0.5)),
        ({"key": "checkout-btn", "name": "Same key"}, "name", "Same key"),
    ],
    ids=[
        "name",
        "variations",
        "weights",
        "coverage",
        "seed",
        "hash_version",
        "max_participants",
        "metrics",
        "namespace",
        "unchanged-key",
    ],
)
def test_draft_patch_changes_any_field(
    patch: dict[str, Any], attribute: str, expected: Any
) -> None:
    assert getattr(draft().patch(patch, LATER), attribute) == expected


def test_draft_patch_of_variations_without_weights_resets_weights() -> None:
    exp = draft(weights=[0.2, 0.8]).patch({"variations": ["a", "b", "c"]}, LATER)
    assert exp.weights is None


def test_draft_patch_of_variations_with_weights_sets_both() -> None:
    exp = draft(weights=[0.2, 0.8]).patch(
        {"variations": ["a", "b", "c"], "weights": [0.5, 0.25, 0.25]}, LATER
    )
    assert (exp.variations, exp.weights) == (("a", "b", "c"), (0.5, 0.25, 0.25))


def test_patch_leaves_other_fields_alone() -> None:
    exp = draft(weights=[0.2, 0.8], metrics=["buy"], namespace=["ns", 0, 0.5])
    assert exp.patch({"name": "Renamed"}, LATER) == replace(exp, name="Renamed")


@pytest.mark.parametrize(
    ("patch", "attribute", "expected"),
    [
        ({"weights": [0.3, 0.7]}, "weights", (0.3, 0.7)),
        ({"coverage": 0.4}, "coverage", 0.4),
        ({"max_participants": 50}, "max_participants", 50),
        ({"name": "New"}, "name", "New"),
        (
            {"metrics": ["buy", "signup"]},
            "metrics",
            (Metric("buy"), Metric("signup", role="secondary")),
        ),
    ],
    ids=["weights", "coverage", "max_participants", "name", "metrics"],
)
def test_running_patch_changes_patchable_fields(
    patch: dict[str, Any], attribute: str, expected: Any
) -> None:
    assert getattr(running().patch(patch, LATER), attribute) == expected


def test_running_patch_keeps_status_version_and_timestamps() -> None:
    exp = replace(running(), version=7)
    patched = exp.patch({"coverage": 0.5}, LATER)
    keep = ("status", "version", "created_at", "started_at", "stopped_at", "winner")
    assert [getattr(patched, a) for a in keep] == [getattr(exp, a) for a in keep]


def test_running_patch_recomputes_bucket_ranges() -> None:
    patched = running().patch({"coverage": 0}, LATER)
    assert {patched.candidate(user) for user in IDS[:500]} == {-1}


@pytest.mark.parametrize(
    "patch",
    [
        {"variations": ["a", "b", "c"]},
        {"seed": "s2"},
        {"hash_version": 1},
        {"namespace": ["ns", 0, 0.5]},
    ],
    ids=["variations", "seed", "hash_version", "namespace"],
)
def test_running_patch_of_locked_field_is_a_conflict(patch: dict[str, Any]) -> None:
    with pytest.raises(ConflictError):
        running().patch(patch, LATER)


@pytest.mark.parametrize("status", ["stopped", "completed"])
def test_locked_fields_stay_locked_after_running(status: str) -> None:
    with pytest.raises(ConflictError):
        _in_status(status).patch({"seed": "s2"}, LATER)


@pytest.mark.parametrize("status", ["draft", "running"])
def test_patch_cannot_change_the_key(status: str) -> None:
    with pytest.raises(ValidationError) as info:
        _in_status(status).patch({"key": "other"}, LATER)
    assert info.value.field == "key"


@pytest.mark.parametrize("status", ["draft", "running"])
def test_patch_rejects_unknown_fields(status: str) -> None:
    with pytest.raises(ValidationError) as info:
        _in_status(status).patch({"status": "completed"}, LATER)
    assert info.value.field == "status"


def test_patch_validates_the_merged_result() -> None:
    with pytest.raises(ValidationError) as info:
        running().patch({"weights": [0.5, 0.6]}, LATER)
    assert info.value.field == "weights"


# --- to_dict / from_dict -----------------------------------------------------


@pytest.mark.parametrize(
    "exp",
    [
        draft(),
        replace(
            draft(
                name="Full",
                variations=["a", "b", "c"],
                weights=[0.2, 0.3, 0.5],
                coverage=0.9,
                seed="s1",
                hash_version=1,
                max_participants=10,
                metrics=[
                    "buy",
                    {"event": "revenue", "type": "value", "cap_percentile": 0.99},
                    {"event": "refund", "role": "guardrail", "margin": 0.02},
                ],
                namespace={"id": "ns", "range": [0.1, 0.6]},
                analysis={"alpha": 0.01, "mode": "fixed", "planned_users": 40_000},
            )
            .start(NOW + 10)
            .patch({"weights": [0.5, 0.25, 0.25]}, NOW + 15)
            .complete("b", NOW + 20),
            version=12,
        ),
    ],
    ids=["minimal-draft", "full-completed"],
)
def test_to_dict_from_dict_round_trip(exp: Experiment) -> None:
    stored = json.loads(json.dumps(exp.to_dict()))
    restored = Experiment.from_dict(stored, exp.version)
    assert restored == exp
    assert restored.version == exp.version
    assert restored.split == exp.split


def test_to_dict_names_the_winner() -> None:
    exp = running().complete("green", NOW + 20)
    assert exp.to_dict()["winner"] == "green"


def test_to_dict_has_full_metrics_analysis_and_phases() -> None:
    exp = draft(metrics=["buy", {"event": "revenue", "type": "value"}]).start(NOW)
    data = exp.to_dict()
    assert data["metrics"] == [
        {
            "event": "buy",
            "type": "conversion",
            "role": "primary",
            "direction": "higher",
            "margin": None,
            "cap": None,
            "cap_percentile": None,
            "window": None,
        },
        {
            "event": "revenue",
            "type": "value",
            "role": "secondary",
            "direction": "higher",
            "margin": None,
            "cap": None,
            "cap_percentile": None,
            "window": None,
        },
    ]
    assert data["analysis"] == {
        "alpha": 0.05,
        "power": 0.8,
        "mde": 0.05,
        "planned_users": 10_000,
        "mode": "sequential",
        "correction": "holm",
        "min_sample": 150,
    }
    assert data["phases"] == [{"index": 0, "started_at": NOW, "weights": [0.5, 0.5]}]


def test_legacy_stored_experiment_gets_one_phase_and_object_metrics() -> None:
    legacy = {
        "key": "old",
        "name": "old",
        "variations": ["a", "b", "c"],
        "weights": [0.2, 0.3, 0.5],
        "coverage": 1.0,
        "seed": "old",
        "hash_version": 2,
        "max_participants": None,
        "metrics": ["buy", "view"],
        "namespace": None,
        "status": "running",
        "winner": None,
        "created_at": NOW,
        "started_at": NOW + 10,
        "stopped_at": None,
        "completed_at": None,
        "version": 3,
    }
    exp = Experiment.from_dict(legacy, 3)
    assert exp.phases == (Phase(NOW + 10, (0.2, 0.3, 0.5)),)
    assert exp.metrics == (Metric("buy"), Metric("view", role="secondary"))
    assert exp.analysis == AnalysisSettings()
    assert Experiment.from_dict(exp.to_dict(), 3) == exp


def test_legacy_stored_draft_has_no_phase() -> None:
    legacy = {"key": "old", "variations": ["a", "b"], "status": "draft"}
    assert Experiment.from_dict(legacy).phases == ()


def test_metrics_built_by_hand_may_be_event_keys() -> None:
    exp = Experiment(key="k", variations=("a", "b"), metrics=("buy", "view"))  # type: ignore[arg-type]
    assert exp.metrics == (Metric("buy"), Metric("view", role="secondary"))
    assert exp.metric_keys == ("buy", "view")


def test_metric_keys_follow_the_metrics_in_order() -> None:
    exp = draft(metrics=[{"event": "refund", "role": "guardrail"}, "buy", "view"])
    assert exp.metric_keys == ("refund", "buy", "view")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"metrics": [{"event": "x", "margin": 0.1}]}, "metrics[0].margin"),
        ({"metrics": ["a", {"event": "b", "kind": "value"}]}, "metrics[1].kind"),
        ({"analysis": {"alpha": 0.5}}, "analysis.alpha"),
        ({"analysis": {"alpha": 0.01, "beta": 0.2}}, "analysis.beta"),
        ({"analysis": [0.01]}, "analysis"),
    ],
    ids=["margin", "metric-unknown", "alpha", "analysis-unknown", "analysis-list"],
)
def test_create_names_the_bad_metric_or_analysis_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        draft(**changes)
    assert info.value.field == field


# --- analysis settings in a patch --------------------------------------------


def test_analysis_patch_merges_into_the_current_settings() -> None:
    exp = running(analysis={"alpha": 0.01})
    patched = exp.patch({"analysis": {"mode": "fixed"}}, LATER)
    assert patched.analysis == AnalysisSettings(alpha=0.01, mode="fixed")


def test_analysis_patch_null_resets_a_field_or_all() -> None:
    exp = running(analysis={"alpha": 0.01, "mode": "fixed"})
    one = exp.patch({"analysis": {"alpha": None}}, LATER)
    assert one.analysis == AnalysisSettings(mode="fixed")
    assert exp.patch({"analysis": None}, LATER).analysis == AnalysisSettings()


def test_bad_analysis_patch_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        running().patch({"analysis": {"power": 2}}, LATER)
    assert info.value.field == "analysis.power"


# --- phases --------------------------------------------------------------------


def test_draft_has_no_phase() -> None:
    assert draft(weights=[0.2, 0.8]).phases == ()


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (MISSING, (0.5, 0.5)),
        ([0.2, 0.8], (0.2, 0.8)),
        ([0.4, 0.595], (0.4 / 0.995, 0.595 / 0.995)),
    ],
    ids=["equal-split", "given", "normalised"],
)
def test_start_begins_phase_zero_with_the_effective_weights(
    weights: Any, expected: tuple[float, ...]
) -> None:
    exp = draft(weights=weights).start(NOW + 10)
    assert exp.phases == (Phase(NOW + 10, expected),)


def test_phase_weights_within_a_billionth_of_one_are_kept_exactly() -> None:
    weights = [0.33333333333, 0.33333333333, 0.33333333333]  # 1 - 1e-11
    exp = draft(variations=["a", "b", "c"], weights=weights).start(NOW)
    assert exp.phases[0].weights == tuple(weights)


def test_phase_weights_further_from_one_are_normalised() -> None:
    exp = draft(variations=["a", "b", "c"], weights=[0.333] * 3).start(NOW)
    assert exp.weights == (0.333, 0.333, 0.333)
    assert exp.phases[0].weights == (1 / 3, 1 / 3, 1 / 3)


def test_equal_split_of_three() -> None:
    exp = draft(variations=["a", "b", "c"]).start(NOW)
    assert exp.phases[0].weights == (1 / 3, 1 / 3, 1 / 3)


def test_restart_after_stop_keeps_the_phases() -> None:
    exp = running().stop(NOW + 20).start(NOW + 30)
    assert exp.phases == (Phase(NOW + 10, (0.5, 0.5)),)


@pytest.mark.parametrize("status", ["running", "stopped"])
def test_weights_change_of_a_started_experiment_begins_a_phase(status: str) -> None:
    exp = _in_status(status)
    patched = exp.patch({"weights": [0.2, 0.8]}, LATER)
    assert patched.phases == (*exp.phases, Phase(LATER + 1, (0.2, 0.8)))
    assert patched.weights == (0.2, 0.8)


@pytest.mark.parametrize(
    ("start", "patch"),
    [
        ([0.3, 0.7], {"weights": [0.3, 0.7]}),
        (MISSING, {"weights": [0.5, 0.5]}),
        ([0.5, 0.5], {"weights": None}),
        ([0.3, 0.7], {"coverage": 0.5}),
        ([0.3, 0.7], {"max_participants": 100}),
        ([0.3, 0.7], {"metrics": ["buy"]}),
        ([0.3, 0.7], {"analysis": {"alpha": 0.01}}),
        ([0.3, 0.7], {"name": "renamed"}),
    ],
    ids=[
        "same-weights",
        "equal-split-made-explicit",
        "explicit-made-equal-split",
        "coverage",
        "cap",
        "metrics",
        "analysis",
        "name",
    ],
)
def test_other_changes_begin_no_phase(start: Any, patch: dict[str, Any]) -> None:
    exp = running(weights=start)
    assert exp.patch(patch, LATER).phases == exp.phases


def test_draft_weights_change_begins_no_phase() -> None:
    exp = draft().patch({"weights": [0.2, 0.8]}, LATER)
    assert exp.phases == ()
    assert exp.start(LATER + 1).phases == (Phase(LATER + 1, (0.2, 0.8)),)


def test_completed_weights_change_begins_no_phase() -> None:
    exp = _in_status("completed")
    assert exp.patch({"weights": [0.2, 0.8]}, LATER).phases == exp.phases


def test_phases_accumulate() -> None:
    exp = (
        running()
        .patch({"weights": [0.2, 0.8]}, NOW + 100)
        .patch({"weights": [0.5, 0.5]}, NOW + 200)
    )
    assert exp.phases == (
        Phase(NOW + 10, (0.5, 0.5)),
        Phase(NOW + 101, (0.2, 0.8)),
        Phase(NOW + 201, (0.5, 0.5)),
    )


def test_a_clock_behind_the_current_phase_starts_the_new_one_after_it() -> None:
    exp = running().patch({"weights": [0.2, 0.8]}, NOW)  # started at NOW + 10
    assert exp.phases[-1] == Phase(NOW + 11, (0.2, 0.8))


def test_a_later_phase_starts_at_the_next_whole_second() -> None:
    exp = running().new_phase(NOW + 50.25, [0.2, 0.8]).new_phase(NOW + 50.5)
    assert [p.started_at for p in exp.phases[1:]] == [NOW + 51, NOW + 52]
    assert all(exp.phase_at(t) is not None for t in range(int(NOW), int(NOW) + 60))


def test_users_exposed_before_a_phase_begins_get_the_previous_weights() -> None:
    exp = running().new_phase(NOW + 50.25, [0.0, 1.0])  # starts at NOW + 51
    users = [f"user-{i}" for i in range(200)]
    assert {exp.candidate(u, NOW + 51) for u in users} == {1}
    before = {exp.candidate(u, NOW + 50.9) for u in users}
    assert before == {0, 1}
    assert [exp.candidate(u, NOW + 50.9) for u in users] == [
        running().candidate(u) for u in users
    ]


@pytest.mark.parametrize("status", ["running", "stopped"])
def test_new_phase_keeps_the_weights(status: str) -> None:
    exp = _in_status(status)
    fresh = exp.new_phase(LATER)
    assert fresh.phases == (*exp.phases, Phase(LATER + 1, (0.5, 0.5)))
    assert replace(fresh, phases=exp.phases) == exp


@pytest.mark.parametrize("weights", [[0.1, 0.9], (0.1, 0.9)], ids=["list", "tuple"])
def test_new_phase_with_weights_sets_them(weights: Any) -> None:
    fresh = running().new_phase(LATER, weights)
    assert fresh.weights == (0.1, 0.9)
    assert fresh.phases[-1] == Phase(LATER + 1, (0.1, 0.9))


@pytest.mark.parametrize("status", ["draft", "completed"])
def test_new_phase_needs_a_started_experiment(status: str) -> None:
    with pytest.raises(ConflictError):
        _in_status(status).new_phase(LATER)


@pytest.mark.parametrize(
    ("weights", "field"),
    [
        ([0.5], "weights"),
        ([0.5, 0.6], "weights"),
        ([True, False], "weights[0]"),
        (0.5, "weights"),
        (["a", "b"], "weights[0]"),
    ],
    ids=["count", "sum", "bool", "number", "strings"],
)
def test_new_phase_names_bad_weights(weights: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        running().new_phase(LATER, weights)
    assert info.value.field == field


def test_phase_at_leaves_out_the_second_a_phase_started_in() -> None:
    exp = replace(
        running(),
        phases=(
            Phase(100.7, (0.5, 0.5)),
            Phase(200.2, (0.2, 0.8)),
            Phase(300.0, (0.5, 0.5)),
        ),
    )
    times = (50, 100, 199, 200, 201, 299, 300, 301)
    assert [exp.phase_at(t) for t in times] == [0, 0, 0, None, 1, 1, 2, 2]


def test_phase_at_without_phases_is_zero() -> None:
    assert draft().phase_at(NOW) == 0


# --- targeting: condition and segments ------------------------------------------

SEGMENTS = {
    "eu": Segment(key="eu", condition={"country": {"$in": ["DE", "FR"]}}),
    "beta": Segment(key="beta", values=("user-1", "user-2")),
}


def test_an_experiment_without_targeting_prints_and_loads_as_before() -> None:
    exp = draft()
    data = exp.to_dict()
    assert "condition" not in data and "segments" not in data
    assert (exp.condition, exp.segments, exp.audience.everyone) == (None, (), True)
    assert Experiment.from_dict(json.loads(json.dumps(data))) == exp
    assert exp.targets("anyone", {}, {})


def test_condition_and_segments_are_parsed_and_round_trip() -> None:
    exp = draft(condition={"id": {"$inGroup": "beta"}}, segments=["eu"])
    assert exp.condition == {"id": {"$inGroup": "beta"}}
    assert exp.segments == ("eu",)
    assert exp.segment_refs() == {"eu", "beta"}
    data = json.loads(json.dumps(exp.to_dict()))
    assert data["condition"] == exp.condition and data["segments"] == ["eu"]
    assert Experiment.from_dict(data) == exp


def test_targets_needs_the_condition_and_every_segment() -> None:
    exp = draft(condition={"id": {"$inGroup": "beta"}}, segments=["eu"])
    assert exp.targets("user-1", {"country": "DE"}, SEGMENTS)
    assert not exp.targets("user-1", {"country": "US"}, SEGMENTS)
    assert not exp.targets("user-3", {"country": "DE"}, SEGMENTS)
    # The user id is the attribute id, whatever the attributes say.
    assert not exp.targets("user-3", {"country": "DE", "id": "user-1"}, SEGMENTS)
    assert not exp.targets("user-1", {"country": "DE"}, {})  # fail closed


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"condition": {"plan": {"$in": "pro"}}}, "condition.plan.$in"),
        ({"condition": ["plan"]}, "condition"),
        ({"segments": ["eu", "no way"]}, "segments[1]"),
        ({"segments": "eu"}, "segments"),
    ],
    ids=["bad-operator", "condition-list", "bad-segment-name", "segments-string"],
)
def test_bad_targeting_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        draft(**changes)
    assert info.value.field == field


@pytest.mark.parametrize("status", ["draft", "running", "stopped"])
def test_targeting_may_change_until_completed(status: str) -> None:
    exp = {"draft": draft, "running": running}.get(status, running)()
    if status == "stopped":
        exp = exp.stop(NOW + 20)
    patched = exp.patch({"condition": {"plan": "pro"}, "segments": ["eu"]}, LATER)
    assert (patched.condition, patched.segments) == ({"plan": "pro"}, ("eu",))
    assert patched.phases == exp.phases  # who enters changes, not the split
    cleared = patched.patch({"condition": None, "segments": []}, LATER)
    assert (cleared.condition, cleared.segments) == (None, ())


def test_targeting_is_frozen_once_completed() -> None:
    done = running(condition={"plan": "pro"}).complete("green", NOW + 30)
    with pytest.raises(ConflictError, match="condition"):
        done.patch({"condition": {"plan": "free"}}, LATER)
    with pytest.raises(ConflictError, match="segments"):
        done.patch({"segments": ["eu"]}, LATER)
    assert done.patch({"condition": {"plan": "pro"}, "name": "n"}, LATER).name == "n"
