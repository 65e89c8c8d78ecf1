"""Version strings compared as GrowthBook's ``$veq``/``$vgt``/... operators do.

``padded_version`` is GrowthBook's ``paddedVersionString``: drop a leading
``v`` and any ``+build`` suffix, split on ``-`` and ``.``, append ``~`` to a
bare ``MAJOR.MINOR.PATCH`` (so ``1.0.0`` sorts after ``1.0.0-rc.1``; ``~`` is
the largest printable ASCII character) and left-pad each all-digit part to five
places with spaces, so that plain string order becomes version order
(``"    9" < "   10"``). ``compare_versions`` orders the padded strings by
UTF-16 code units, as JavaScript compares strings. Pure and stdlib only.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from abflask.core.fields import as_float

__all__ = ["compare_versions", "js_number", "padded_version"]

VERSION_PAD = 5
"""Width, in characters, each numeric part is left-padded to."""

_LINE_BREAKS = "\n\r\u2028\u2029"
"""What JavaScript's ``.`` does not match: ``/\\+.*$/`` stops at these."""


def js_number(value: int | float) -> str:
    """``String(value)`` in JavaScript: ``1.0`` is ``"1"``, ``1e-7`` is ``"1e-7"``.

    JavaScript numbers are doubles, so an integer beyond 2**53 is rounded first.
    """
    number = as_float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    mantissa, _, exponent = repr(number).partition("e")
    if not exponent:
        return mantissa.removesuffix(".0")
    power = int(exponent)
    if -7 < power < 21:  # JavaScript writes these without an exponent
        return format(Decimal(repr(number)), "f")
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def _strip_build(text: str) -> str:
    # JavaScript's /(^v|\+.*$)/g: the ".*$" must reach the end of the string
    # without crossing a line break, so it cuts at the first "+" after the last.
    if text.startswith("v"):
        text = text[1:]
    last_break = max(text.rfind(c) for c in _LINE_BREAKS)
    plus = text.find("+", last_break + 1)
    return text if plus < 0 else text[:plus]


def padded_version(value: Any) -> str:
    """GrowthBook's ``paddedVersionString`` of ``value``.

    A number is first written as JavaScript writes it; anything else that is
    not a non-empty string (None, booleans, lists) counts as ``"0"``.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = js_number(value)
    if not value or not isinstance(value, str):
        value = "0"
    parts = _strip_build(value).replace("-", ".").split(".")
    if len(parts) == 3:
        parts.append("~")
    return "-".join(
        p.rjust(VERSION_PAD) if p.isascii() and p.isdigit() else p for p in parts
    )


def compare_versions(left: Any, right: Any) -> int:
    """-1, 0 or 1 as ``left`` is older than, equal to or newer than ``right``."""
    a = padded_version(left).encode("utf-16-be", "surrogatepass")
    b = padded_version(right).encode("utf-16-be", "surrogatepass")
    return (a > b) - (a < b)
