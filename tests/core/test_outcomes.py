"""Tests for abflask.core.outcomes: one vocabulary for scripts, answers and the SDK."""

from __future__ import annotations

import re

import pytest

from abflask.core.outcomes import (
    ENROLLMENT_OUTCOMES,
    FINAL_OUTCOMES,
    Enrollment,
    Outcome,
    Reason,
    TrackResult,
)
from tests.helpers import ROOT

LUA = ROOT / "abflask" / "storage" / "lua"


def test_enroll_script_returns_exactly_the_enrollment_codes() -> None:
    source = (LUA / "enroll.lua").read_text()
    returned = {int(code) for code in re.findall(r"return \{(-?\d+),", source)}
    assert returned == {int(code) for code in Enrollment}


def test_track_script_sets_exactly_the_track_codes() -> None:
    source = (LUA / "track.lua").read_text()
    assert set(re.findall(r"code = '(\d)'", source)) == {r.value for r in TrackResult}


def test_every_final_enrollment_code_has_an_answer() -> None:
    assert set(ENROLLMENT_OUTCOMES) == set(Enrollment) - {Enrollment.STALE}


@pytest.mark.parametrize("outcome", list(Outcome))
def test_only_enrolled_and_sticky_answers_are_stored(outcome: Outcome) -> None:
    assert outcome.stored is (outcome in (Outcome.ENROLLED, Outcome.STICKY))


def test_outcomes_compare_equal_to_their_json_strings() -> None:
    assert Outcome.STICKY == "sticky"
    assert f"{Outcome.NOT_FOUND}" == "not_found"
    assert TrackResult.RECORDED == "1"


def test_final_outcomes_are_the_settled_ones() -> None:
    assert {o.value for o in FINAL_OUTCOMES} == {
        "enrolled",
        "sticky",
        "excluded",
        "full",
        "winner",
        "not_targeted",
    }


def test_not_targeted_is_final_but_not_stored() -> None:
    assert Outcome.NOT_TARGETED.final and not Outcome.NOT_TARGETED.stored
    assert Outcome.NOT_TARGETED == "not_targeted" == Reason.NOT_TARGETED


def test_flag_reasons_keep_their_values_and_add_rules_and_prerequisites() -> None:
    assert [Reason.FLAG_ON, Reason.FLAG_OFF, Reason.NOT_IN_ROLLOUT] == [
        "flag_on",
        "flag_off",
        "not_in_rollout",
    ]
    assert (Reason.RULE, Reason.PREREQUISITE) == ("rule", "prerequisite")


@pytest.mark.parametrize("outcome", list(Outcome))
def test_an_sdk_retries_exactly_the_unsettled_outcomes(outcome: Outcome) -> None:
    retried = {Outcome.UNAVAILABLE, Outcome.NOT_FOUND, Outcome.NOT_RUNNING}
    assert outcome.final is (outcome not in retried)


def test_every_stored_outcome_is_final() -> None:
    assert all(o.final for o in Outcome if o.stored)
