"""Tests for abflask.models: parsing, validation, decisions and the lifecycle.

Pure: no Redis and no clock. Every test passes ``now`` explicitly.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from abflask import core
from abflask.errors import ConflictError, ValidationError
from abflask.models import (
    Experiment,
    Flag,
    parse_batch,
    parse_event,
    parse_experiment,
    parse_flag,
)

NOW = 1_700_000_000.0
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


def event(**changes: Any) -> dict[str, Any]:
    """A minimal valid event with ``changes`` applied."""
    payload: dict[str, Any] = {"user_id": "u1", "event": "purchase"}
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
        ("purchase", "signup"),
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
    ("metrics-duplicates", body(metrics=["buy", "buy"]), "metrics"),
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
        ({"metrics": ["buy"]}, "metrics", ("buy",)),
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
    assert getattr(draft().patch(patch), attribute) == expected


def test_draft_patch_of_variations_without_weights_resets_weights() -> None:
    exp = draft(weights=[0.2, 0.8]).patch({"variations": ["a", "b", "c"]})
    assert exp.weights is None


def test_draft_patch_of_variations_with_weights_sets_both() -> None:
    exp = draft(weights=[0.2, 0.8]).patch(
        {"variations": ["a", "b", "c"], "weights": [0.5, 0.25, 0.25]}
    )
    assert (exp.variations, exp.weights) == (("a", "b", "c"), (0.5, 0.25, 0.25))


def test_patch_leaves_other_fields_alone() -> None:
    exp = draft(weights=[0.2, 0.8], metrics=["buy"], namespace=["ns", 0, 0.5])
    assert exp.patch({"name": "Renamed"}) == replace(exp, name="Renamed")


@pytest.mark.parametrize(
    ("patch", "attribute", "expected"),
    [
        ({"weights": [0.3, 0.7]}, "weights", (0.3, 0.7)),
        ({"coverage": 0.4}, "coverage", 0.4),
        ({"max_participants": 50}, "max_participants", 50),
        ({"name": "New"}, "name", "New"),
        ({"metrics": ["buy", "signup"]}, "metrics", ("buy", "signup")),
    ],
    ids=["weights", "coverage", "max_participants", "name", "metrics"],
)
def test_running_patch_changes_patchable_fields(
    patch: dict[str, Any], attribute: str, expected: Any
) -> None:
    assert getattr(running().patch(patch), attribute) == expected


def test_running_patch_keeps_status_version_and_timestamps() -> None:
    exp = replace(running(), version=7)
    patched = exp.patch({"coverage": 0.5})
    keep = ("status", "version", "created_at", "started_at", "stopped_at", "winner")
    assert [getattr(patched, a) for a in keep] == [getattr(exp, a) for a in keep]


def test_running_patch_recomputes_bucket_ranges() -> None:
    patched = running().patch({"coverage": 0})
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
        running().patch(patch)


@pytest.mark.parametrize("status", ["stopped", "completed"])
def test_locked_fields_stay_locked_after_running(status: str) -> None:
    with pytest.raises(ConflictError):
        _in_status(status).patch({"seed": "s2"})


@pytest.mark.parametrize("status", ["draft", "running"])
def test_patch_cannot_change_the_key(status: str) -> None:
    with pytest.raises(ValidationError) as info:
        _in_status(status).patch({"key": "other"})
    assert info.value.field == "key"


@pytest.mark.parametrize("status", ["draft", "running"])
def test_patch_rejects_unknown_fields(status: str) -> None:
    with pytest.raises(ValidationError) as info:
        _in_status(status).patch({"status": "completed"})
    assert info.value.field == "status"


def test_patch_validates_the_merged_result() -> None:
    with pytest.raises(ValidationError) as info:
        running().patch({"weights": [0.5, 0.6]})
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
                metrics=["buy"],
                namespace={"id": "ns", "range": [0.1, 0.6]},
            )
            .start(NOW + 10)
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
    assert restored.ranges == exp.ranges


def test_to_dict_names_the_winner() -> None:
    exp = running().complete("green", NOW + 20)
    assert exp.to_dict()["winner"] == "green"


# --- flags -------------------------------------------------------------------


def test_parse_flag_create_defaults() -> None:
    flag = parse_flag({"key": "new-nav"}, now=NOW)
    assert flag == Flag(
        key="new-nav", enabled=False, rollout=1.0, seed="new-nav", updated_at=NOW
    )


def test_parse_flag_patch_merges_into_current() -> None:
    current = replace(
        parse_flag({"key": "new-nav", "enabled": True, "rollout": 0.3}, now=NOW),
        version=4,
    )
    flag = parse_flag({"rollout": 0.6}, now=NOW + 5, current=current)
    assert (flag.key, flag.enabled, flag.rollout, flag.version, flag.updated_at) == (
        "new-nav",
        True,
        0.6,
        4,
        NOW + 5,
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"key": "a b"}, "key"),
        ({"key": "f", "enabled": 1}, "enabled"),
        ({"key": "f", "enabled": "true"}, "enabled"),
        ({"key": "f", "rollout": -0.1}, "rollout"),
        ({"key": "f", "rollout": 1.1}, "rollout"),
        ({"key": "f", "rollout": "0.5"}, "rollout"),
        ({"key": "f", "rollout": True}, "rollout"),
        ({"key": "f", "description": "d" * 1001}, "description"),
        ({"key": "f", "colour": "red"}, "colour"),
    ],
    ids=[
        "bad-key",
        "enabled-int",
        "enabled-string",
        "rollout-negative",
        "rollout-above-1",
        "rollout-string",
        "rollout-bool",
        "description-too-long",
        "unknown-field",
    ],
)
def test_invalid_flag_names_the_bad_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_flag(payload, now=NOW)
    assert info.value.field == field


def test_parse_flag_patch_cannot_change_the_key() -> None:
    current = parse_flag({"key": "new-nav"}, now=NOW)
    with pytest.raises(ValidationError) as info:
        parse_flag({"key": "old-nav"}, now=NOW, current=current)
    assert info.value.field == "key"


def test_parse_flag_patch_validates_enabled() -> None:
    current = parse_flag({"key": "new-nav"}, now=NOW)
    with pytest.raises(ValidationError) as info:
        parse_flag({"enabled": "yes"}, now=NOW, current=current)
    assert info.value.field == "enabled"


@pytest.mark.parametrize(
    ("enabled", "rollout", "expected"),
    [(False, 1.0, {False}), (True, 1.0, {True}), (True, 0.0, {False})],
    ids=["disabled", "rollout-1", "rollout-0"],
)
def test_flag_is_on(enabled: bool, rollout: float, expected: set[bool]) -> None:
    flag = Flag(key="new-nav", enabled=enabled, rollout=rollout)
    assert {flag.is_on(user) for user in IDS[:2000]} == expected


def test_flag_partial_rollout_turns_on_about_that_share() -> None:
    flag = Flag(key="new-nav", enabled=True, rollout=0.3)
    on = sum(flag.is_on(user) for user in IDS)
    # Binomial sd for n=10,000 and p=0.3 is about 46: ±230 is five sd.
    assert abs(on - 3000) < 230


def test_flag_round_trip() -> None:
    flag = replace(
        parse_flag({"key": "f", "enabled": True, "rollout": 0.5}, now=NOW), version=3
    )
    assert Flag.from_dict(json.loads(json.dumps(flag.to_dict())), 3) == flag


# --- parse_event -------------------------------------------------------------


def test_event_timestamp_defaults_to_now() -> None:
    assert parse_event(event(), now=NOW).timestamp == NOW


def test_event_keeps_given_fields() -> None:
    ev = parse_event(
        event(
            value=19.99, properties={"plan": "pro"}, event_id="e1", timestamp=NOW - 5
        ),
        now=NOW,
    )
    assert (ev.value, ev.properties, ev.event_id, ev.timestamp) == (
        19.99,
        {"plan": "pro"},
        "e1",
        NOW - 5,
    )


def test_event_accepts_flat_property_values() -> None:
    properties = {"s": "x" * 256, "i": 3, "f": 1.5, "b": True, "n": None}
    assert parse_event(event(properties=properties), now=NOW).properties == properties


def test_event_int_user_id_becomes_a_string() -> None:
    assert parse_event(event(user_id=42), now=NOW).user_id == "42"


def test_event_accepts_a_timestamp_a_day_ahead() -> None:
    assert parse_event(event(timestamp=NOW + 86_400), now=NOW).timestamp == NOW + 86_400


INVALID_EVENTS = [
    ("user-id-missing", event(user_id=MISSING), "user_id"),
    ("user-id-empty", event(user_id=""), "user_id"),
    ("user-id-257-chars", event(user_id="u" * 257), "user_id"),
    ("user-id-newline", event(user_id="a\nb"), "user_id"),
    ("user-id-bool", event(user_id=True), "user_id"),
    ("user-id-float", event(user_id=1.5), "user_id"),
    ("event-missing", event(event=MISSING), "event"),
    ("event-dollar", event(event="$exposure"), "event"),
    ("event-space", event(event="a b"), "event"),
    ("event-65-chars", event(event="e" * 65), "event"),
    ("value-nan", event(value=math.nan), "value"),
    ("value-inf", event(value=math.inf), "value"),
    ("value-string", event(value="3"), "value"),
    ("value-bool", event(value=True), "value"),
    ("value-1e16", event(value=1e16), "value"),
    ("properties-not-object", event(properties=["a"]), "properties"),
    (
        "properties-21-keys",
        event(properties={f"k{i}": i for i in range(21)}),
        "properties",
    ),
    ("properties-nested", event(properties={"k": {"a": 1}}), "properties.k"),
    ("properties-list-value", event(properties={"k": [1]}), "properties.k"),
    ("properties-nan", event(properties={"k": math.nan}), "properties.k"),
    ("properties-257-chars", event(properties={"k": "v" * 257}), "properties.k"),
    ("properties-empty-key", event(properties={"": 1}), "properties"),
    ("event-id-empty", event(event_id=""), "event_id"),
    ("event-id-int", event(event_id=7), "event_id"),
    ("timestamp-before-2000", event(timestamp=946_684_799.0), "timestamp"),
    ("timestamp-over-a-day-ahead", event(timestamp=NOW + 86_401), "timestamp"),
    ("timestamp-string", event(timestamp="2024-01-01"), "timestamp"),
    ("unknown-field", event(ts=NOW), "ts"),
]


@pytest.mark.parametrize(
    ("payload", "field"),
    [case[1:] for case in INVALID_EVENTS],
    ids=[case[0] for case in INVALID_EVENTS],
)
def test_invalid_event_names_the_bad_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(payload, now=NOW)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (event(value=math.nan), "events[3].value"),
        (event(user_id=""), "events[3].user_id"),
        (event(properties={"k": [1]}), "events[3].properties.k"),
        (event(ts=NOW), "events[3].ts"),
        ("not-an-object", "events[3]"),
    ],
    ids=["value", "user_id", "property", "unknown-field", "not-an-object"],
)
def test_event_error_field_has_the_path_prefix(payload: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(payload, now=NOW, path="events[3]")
    assert info.value.field == field


# --- parse_batch -------------------------------------------------------------


def test_batch_parses_every_event() -> None:
    events = parse_batch(
        {"events": [event(user_id="a"), event(user_id="b")]}, now=NOW, limit=2
    )
    assert [e.user_id for e in events] == ["a", "b"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "events"),
        ({"events": []}, "events"),
        ({"events": event()}, "events"),
        ({"events": [event()] * 4}, "events"),
        ({"events": [event()], "extra": 1}, "extra"),
        ({"events": [event(), event(user_id="")]}, "events[1].user_id"),
        ({"events": [event(), event(), "x"]}, "events[2]"),
    ],
    ids=[
        "missing",
        "empty",
        "not-a-list",
        "over-limit",
        "unknown-key",
        "bad-event-index",
        "non-object-event",
    ],
)
def test_invalid_batch_names_the_bad_field(payload: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_batch(payload, now=NOW, limit=3)
    assert info.value.field == field
