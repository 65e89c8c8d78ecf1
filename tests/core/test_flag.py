"""Tests for abflask.core.flag: parsing and the rollout decision. Pure."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from abflask.core.flag import Flag, parse_flag
from abflask.errors import ValidationError

NOW = 1_700_000_000.0
IDS = [f"user-{i}" for i in range(10_000)]


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
        ({"key": "f", "rollout": 10**400}, "rollout"),
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
        "rollout-beyond-float-range",
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
