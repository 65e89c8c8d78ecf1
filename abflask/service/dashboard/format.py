"""Numbers and words for people: the dashboard's Jinja filters.

Counts get thousands separators, rates and lifts are percentages (lifts
signed, with a real minus sign), p-values have three decimals, times are UTC,
and anything missing is an em dash. Field values of the results JSON
(``keep_running``, ``too_little_data``) become words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

MISSING = "—"
MINUS = "−"

DECISIONS = {
    "ship": "Ship",
    "dont_ship": "Don't ship",
    "harmful": "Harmful",
    "keep_running": "Keep running",
    "unreliable": "Unreliable",
}
OUTCOMES = {
    "better": "Better",
    "worse": "Worse",
    "inconclusive": "Inconclusive",
    "too_little_data": "Too little data",
    "waiting": "Waiting for the planned users",
    "harmed": "Harmed",
    "within_margin": "Within margin",
}
STATUSES = {
    "draft": "Draft",
    "running": "Running",
    "stopped": "Stopped",
    "completed": "Completed",
}
ROLES = {"primary": "Primary", "secondary": "Secondary", "guardrail": "Guardrail"}


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def count(x: Any) -> str:
    """``12,345``; a missing count is an em dash."""
    value = _number(x)
    return MISSING if value is None else f"{round(value):,}"


def percent(x: Any, digits: int = 1) -> str:
    """A share as a percentage: ``0.1234`` → ``12.3%``."""
    value = _number(x)
    return MISSING if value is None else _signed(f"{value * 100:,.{digits}f}%")


def lift(x: Any, digits: int = 1) -> str:
    """A relative change, signed: ``0.052`` → ``+5.2%``, ``-0.1`` → ``−10.0%``."""
    value = _number(x)
    return MISSING if value is None else _signed(f"{value * 100:+,.{digits}f}%")


def number(x: Any, digits: int = 2) -> str:
    """A mean or an amount: ``1234.5`` → ``1,234.50``."""
    value = _number(x)
    return MISSING if value is None else _signed(f"{value:,.{digits}f}")


def signed_number(x: Any, digits: int = 2) -> str:
    value = _number(x)
    return MISSING if value is None else _signed(f"{value:+,.{digits}f}")


def interval(ci: Any, show: Callable[[Any], str] = lift) -> str:
    """``[−1.2%, +3.4%]``; an unbounded or missing interval is an em dash."""
    if not isinstance(ci, Sequence) or isinstance(ci, str) or len(ci) != 2:
        return MISSING
    low, high = show(ci[0]), show(ci[1])
    return MISSING if MISSING in (low, high) else f"[{low}, {high}]"


def p_value(x: Any) -> str:
    """``0.042``; below a thousandth ``< 0.001``."""
    value = _number(x)
    if value is None:
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def p_is(x: Any) -> str:
    """A p-value in a sentence: ``p = 0.042``, ``p < 0.001``."""
    shown = p_value(x)
    return "p " + shown if shown.startswith("<") else f"p = {shown}"


def when(t: Any) -> str:
    """An epoch time as ``2025-11-01 12:00 UTC``."""
    value = _number(t)
    if value is None:
        return MISSING
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(t: Any) -> str:
    """An epoch time for ``<time datetime=...>``."""
    value = _number(t)
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def ago(t: Any, now: float) -> str:
    """How long before ``now``: ``just now``, ``5 minutes ago``, ``3 days ago``."""
    value = _number(t)
    if value is None:
        return MISSING
    seconds = max(0.0, now - value)
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n:,} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def words(value: Any, table: dict[str, str]) -> str:
    """A results field value in words (unknown values are shown capitalised)."""
    if not isinstance(value, str) or not value:
        return MISSING
    return table.get(value, value.replace("_", " ").capitalize())


def weights(ws: Any) -> str:
    """A split as ``50% / 50%``."""
    if not isinstance(ws, Sequence) or not ws:
        return MISSING
    return " / ".join(percent(w, 0 if _whole(w) else 1) for w in ws)


def _whole(w: Any) -> bool:
    value = _number(w)
    return value is not None and abs(value * 100 - round(value * 100)) < 1e-9


FILTERS: dict[str, Callable[..., str]] = {
    "count": count,
    "percent": percent,
    "lift": lift,
    "number": number,
    "interval": interval,
    "p_value": p_value,
    "p_is": p_is,
    "when": when,
    "iso": iso,
    "ago": ago,
    "weights": weights,
    "decision_words": lambda v: words(v, DECISIONS),
    "outcome_words": lambda v: words(v, OUTCOMES),
    "status_words": lambda v: words(v, STATUSES),
    "role_words": lambda v: words(v, ROLES),
}
"""The filters the templates use, registered on the blueprint."""
