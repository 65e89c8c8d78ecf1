"""Tests for abflask.core.wire: the /sdk/config snapshot, encoded and decoded. Pure."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from abflask.core import bucketing, wire
from abflask.core.experiment import Experiment
from abflask.core.flag import Flag, evaluate, parse_flag
from abflask.core.outcomes import Reason
from abflask.core.segment import Segment
from abflask.core.targeting import Audience, Rule

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
    # Without targeting a snapshot stays in format 1, which older SDKs read.
    assert wire.encode({}, {})["format_version"] == wire.PLAIN_VERSION == 1
    assert wire.FORMAT_VERSION == 2


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


@pytest.mark.parametrize("version", [3, 0, "1", None])
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


# --- format 2: targeting ------------------------------------------------------------

SEGMENTS = {
    "eu": Segment(key="eu", condition={"country": {"$in": ["DE", "FR", "IT"]}}),
    "beta": Segment(key="beta", values=tuple(f"user-{i}" for i in range(0, 2000, 5))),
    "beta-adults": Segment(
        key="beta-adults",
        condition={"id": {"$inGroup": "beta"}, "age": {"$gte": 18}},
    ),
    "unused": Segment(key="unused", values=("x",)),
    "draft-only": Segment(key="draft-only", condition={"a": 1}),
}
TARGETED = {
    **EXPERIMENTS,
    "eu-test": Experiment(
        key="eu-test",
        variations=("a", "b", "c"),
        coverage=0.8,
        condition={"plan": {"$ne": "free"}},
        segments=("eu",),
        status="running",
    ),
    "beta-test": Experiment(
        key="beta-test",
        variations=("a", "b"),
        segments=("beta-adults",),
        status="running",
    ),
    "draft": Experiment(
        key="draft", variations=("a", "b"), segments=("draft-only",), status="draft"
    ),
}
TARGETED_FLAGS = {
    "nav": FLAGS["nav"],
    "theme": parse_flag(
        {
            "key": "theme",
            "enabled": True,
            "value": "blue",
            "default": "grey",
            "rollout": 0.3,
            "requires": ["nav"],
            "rules": [
                {"segments": ["eu"], "condition": {"plan": "pro"}, "force": "gold"},
                {
                    "condition": {"id": {"$notInGroup": "beta"}},
                    "rollout": 0.4,
                    "value": {"shade": 2},
                    "seed": "s",
                },
            ],
        },
        now=0.0,
    ),  # fmt: skip
    "off": Flag(key="off", enabled=False, default=0),
}


def random_attributes(rng: random.Random) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if rng.random() < 0.9:
        attributes["country"] = rng.choice(["DE", "FR", "IT", "US", "JP"])
    if rng.random() < 0.8:
        attributes["plan"] = rng.choice(["free", "pro", "team"])
    if rng.random() < 0.8:
        attributes["age"] = rng.randint(10, 70)
    return attributes


def test_a_snapshot_without_targeting_stays_in_format_1() -> None:
    plain = wire.encode(EXPERIMENTS, FLAGS, SEGMENTS)
    assert plain == wire.encode(EXPERIMENTS, FLAGS)
    assert plain["format_version"] == 1 and "segments" not in plain
    # a draft's targeting is not published either
    drafts = {"draft": TARGETED["draft"]}
    assert wire.encode(drafts, FLAGS, SEGMENTS)["format_version"] == 1


@pytest.mark.parametrize(
    ("experiments", "flags"),
    [
        ({"e": Experiment(key="e", variations=("a", "b"), condition={"a": 1},
                          status="running")}, {}),
        ({}, {"f": Flag(key="f", value="blue")}),
        ({}, {"f": Flag(key="f", default=None)}),
        ({}, {"f": Flag(key="f", requires=("g",))}),
        ({}, {"f": Flag(key="f", rules=(Rule(Audience(), 1),))}),
    ],
    ids=["experiment-condition", "flag-value", "flag-default", "requires", "rules"],
)  # fmt: skip
def test_any_targeting_feature_makes_format_2(
    experiments: dict[str, Experiment], flags: dict[str, Flag]
) -> None:
    data = wire.encode(experiments, flags, SEGMENTS)
    assert data["format_version"] == 2 and data["segments"] == {}


def test_format_2_holds_exactly_the_segments_named() -> None:
    data = wire.encode(TARGETED, TARGETED_FLAGS, SEGMENTS)
    assert data["format_version"] == 2
    assert data["segments"] == {
        "beta": {"values": list(SEGMENTS["beta"].values or ())},
        "beta-adults": {"condition": SEGMENTS["beta-adults"].condition},
        "eu": {"condition": SEGMENTS["eu"].condition},
    }
    assert "draft" not in data["experiments"]


def test_format_2_entries() -> None:
    exp = Experiment(
        key="btn",
        variations=("a", "b"),
        condition={"country": "DE"},
        segments=("eu",),
        status="running",
    )
    flag = parse_flag(
        {"key": "nav", "enabled": True, "value": "blue", "default": "grey",
         "requires": ["auth"],
         "rules": [{"condition": {"id": {"$inGroup": "beta"}}, "force": "green"},
                   {"rollout": 0.2, "value": {"a": 1}}]},
        now=0.0,
    )  # fmt: skip
    data = json.loads(
        json.dumps(wire.encode({"btn": exp}, {"nav": flag}, SEGMENTS), sort_keys=True)
    )
    assert data["experiments"]["btn"] == {
        "variations": ["a", "b"],
        "ranges": [[0.0, 0.5], [0.5, 1.0]],
        "seed": "btn",
        "hash_version": 2,
        "namespace": None,
        "status": "running",
        "winner": None,
        "condition": {"country": "DE"},
        "segments": ["eu"],
    }
    assert data["flags"]["nav"] == {
        "enabled": True,
        "rollout": 1.0,
        "seed": "nav",
        "value": "blue",
        "default": "grey",
        "requires": ["auth"],
        "rules": [
            {"condition": {"id": {"$inGroup": "beta"}}, "force": "green"},
            {"rollout": 0.2, "value": {"a": 1}},
        ],
    }
    assert sorted(data["segments"]) == ["beta", "eu"]


def test_format_2_round_trip_decides_as_the_core_for_2000_users() -> None:
    raw = json.dumps(wire.encode(TARGETED, TARGETED_FLAGS, SEGMENTS), sort_keys=True)
    experiments, flags = wire.decode(json.loads(raw))
    assert experiments["plain"].target is None  # no cost without targeting
    rng = random.Random(7)
    seen: set[tuple[str, Any]] = set()
    for i in range(2000):
        user, attributes = f"user-{i}", random_attributes(rng)
        for key, exp in TARGETED.items():
            if exp.status == "draft":
                continue
            decoded = experiments[key]
            targeted = exp.targets(user, attributes, SEGMENTS)
            assert decoded.targets(user, attributes) is targeted, (key, user)
            assert bucketing.decide(decoded.split, user) == exp.candidate(user)
            seen.add((key, targeted))
        for key, flag in TARGETED_FLAGS.items():
            core = flag.evaluate(user, attributes, TARGETED_FLAGS, SEGMENTS)
            assert evaluate(key, user, attributes, flags) == core, (key, user)
            seen.add((key, core.reason))
    assert {("eu-test", True), ("eu-test", False), ("beta-test", True)} <= seen
    theme = {Reason.RULE, Reason.PREREQUISITE, Reason.FLAG_ON, Reason.NOT_IN_ROLLOUT}
    assert {("theme", r) for r in theme} | {("off", Reason.FLAG_OFF)} <= seen


def test_a_segment_missing_from_the_snapshot_matches_nobody_as_in_the_service() -> None:
    segments = {k: s for k, s in SEGMENTS.items() if k != "eu"}
    data = wire.encode(TARGETED, TARGETED_FLAGS, segments)
    assert "eu" not in data["segments"]
    experiments, _ = wire.decode(json.loads(json.dumps(data)))
    attributes = {"country": "DE", "plan": "pro"}
    assert not experiments["eu-test"].targets("user-1", attributes)
    assert not TARGETED["eu-test"].targets("user-1", attributes, segments)
