"""Tests for abflask.core.fields: the shared parse functions. Pure."""

from __future__ import annotations

import math
from typing import Any

import pytest

from abflask.core.fields import as_float, number
from abflask.errors import ValidationError

HUGE = 10**400
"""An integer literal beyond float range: ``float(HUGE)`` raises OverflowError."""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(HUGE, math.inf), (-HUGE, -math.inf), (3, 3.0), (2.5, 2.5)],
    ids=["huge", "minus-huge", "int", "float"],
)
def test_as_float_turns_overflow_into_infinity(raw: Any, expected: float) -> None:
    assert as_float(raw) == expected


@pytest.mark.parametrize(
    "raw", [HUGE, -HUGE, math.inf, math.nan], ids=["huge", "minus-huge", "inf", "nan"]
)
def test_number_beyond_float_range_names_the_field(raw: Any) -> None:
    with pytest.raises(ValidationError) as info:
        number(raw, "weights[1]", 0.0, 1.0)
    assert info.value.field == "weights[1]"
    assert "finite number" in info.value.message


@pytest.mark.parametrize("raw", ["1", True, None, [1]])
def test_number_rejects_what_is_not_a_number(raw: Any) -> None:
    with pytest.raises(ValidationError, match="must be a number"):
        number(raw, "coverage", 0.0, 1.0)


def test_number_accepts_an_int_in_range() -> None:
    assert number(1, "coverage", 0.0, 1.0) == 1.0
