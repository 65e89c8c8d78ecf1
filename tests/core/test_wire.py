"""Tests for abflask.core.wire: the /sdk/config snapshot, encoded and decoded. Pure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from abflask.core import bucketing, wire
from abflask.core.experiment import Experiment
from abflask.core.flag import Flag

USERS = [f"user-{i}" for i in range(2000)] + ["😀-1", "ß", "中文"]
EXPERIMENTS = {
    "plain": Experiment(key="plain", variations=("a", "b"), status="running"),
    "weighted": Experiment(
        key="weighted",
        variations=("a", "b", "c"),
        weights=(0.2, 0.3, 0.5),
        coverage=0.7,
        seed="other-seed",
        status="running",
    ),
    "v1": Experiment(key="v1", variations=("a", "b"), hash_version=1, status="running"),
    "spaced": Experiment(
        key="spaced",
        variations=("a", "b"),
        namespace=("checkout", 0.25, 0.75),
        status="running",
    ),
    "stopped": Experiment(key="stopped", variations=("a", "b"), status="stopped"),
    "shipped": Experiment(
        key="shipped", variations=("a", "b"), status="completed", winner=1
    ),
}
FLAGS = {"nav": Flag(key="nav", enabled=True, rollout=0.4, version=3)}


def round_trip(
    experiments: dict[str, Experiment] = EXPERIMENTS,
) -> tuple[dict[str, wire.WireExperiment], dict[str, wire.WireFlag]]:
    """Encode, go through JSON as the service sends it, decode as the SDK does."""
    raw = json.dumps(wire.encode(experiments, FLAGS), sort_keys=True)
    return wire.decode(json.loads(raw))


def test_snapshot_carries_its_format_version() -> None:
    assert wire.encode({}, {})["format_version"] == wire.FORMAT_VERSION == 1


@pytest.mark.parametrize("key", sorted(EXPERIMENTS))
def test_decoded_split_decides_as_the_service(key: str) -> None:
    decoded, _ = round_trip()
    exp = EXPERIMENTS[key]
    assert decoded[key].split == exp.split
    assert [bucketing.decide(decoded[key].split, u) for u in USERS] == [
        exp.candidate(u) for u in USERS
    ]


def test_status_and_winner_survive() -> None:
    decoded, _ = round_trip()
    assert {k: (e.running, e.winner) for k, e in decoded.items()} == {
        "plain": (True, None),
        "weighted": (True, None),
        "v1": (True, None),
        "spaced": (True, None),
        "stopped": (False, None),
        "shipped": (False, 1),
    }


def test_flags_survive() -> None:
    _, flags = round_trip()
    assert flags == {"nav": wire.WireFlag(True, 0.4, "nav")}


def test_a_snapshot_without_a_version_is_read_as_version_1() -> None:
    data: dict[str, Any] = json.loads(json.dumps(wire.encode(EXPERIMENTS, FLAGS)))
    del data["format_version"]
    assert wire.decode(data) == round_trip()


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_an_unknown_format_is_refused(version: Any) -> None:
    data = {**wire.encode(EXPERIMENTS, FLAGS), "format_version": version}
    with pytest.raises(ValueError, match="snapshot format"):
        wire.decode(data)


def test_draft_experiments_are_not_in_the_snapshot() -> None:
    draft = Experiment(key="secret-launch", variations=("a", "b"), status="draft")
    encoded = wire.encode({**EXPERIMENTS, "secret-launch": draft}, FLAGS)
    assert "secret-launch" not in json.dumps(encoded)
    assert sorted(encoded["experiments"]) == sorted(EXPERIMENTS)


def test_snapshot_holds_only_what_an_sdk_decides_with() -> None:
    named = Experiment(
        key="named",
        variations=("a", "b"),
        name="Internal codename",
        metrics=("revenue",),
        max_participants=500,
        status="running",
        version=7,
    )
    flag = Flag(key="nav", enabled=True, rollout=0.4, description="ops", version=3)
    encoded = wire.encode({"named": named}, {"nav": flag})
    entry = encoded["experiments"]["named"]
    assert set(entry) == {
        "variations",
        "ranges",
        "seed",
        "hash_version",
        "namespace",
        "status",
        "winner",
    }
    assert set(encoded["flags"]["nav"]) == {"enabled", "rollout", "seed"}
    assert "Internal codename" not in json.dumps(encoded)
