"""Numbers and words for people: one format for every report and page.

Counts get thousands separators; rates and lifts are percentages (lifts
signed), with a real minus sign; p-values have three decimals; times are UTC;
anything missing or not finite is an em dash. Field names and field values of
the result JSON (``rel_lift``, ``keep_running``) never reach a reader: each has
words here. Every function takes any value and never raises on a bad one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

MISSING = "—"
MINUS = "−"
"""U+2212: a minus sign as wide as the plus sign, so signed columns align."""

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
TYPES = {"conversion": "conversion rate", "value": "mean per participant"}
STATES = {
    "ok": "",
    "adjusted": "a variation at 0% or 100%: its variance is adjusted",
    "constant": "no spread in either variation",
    "too_few": "too few participants to test",
    "empty": "a variation has no participants",
}
"""A comparison's ``state``: which rule produced its numbers."""
SOURCES = {"job": "the analysis job", "live": "the live counters"}

LABELS = {
    "name": "Variation",
    "participants": "Participants",
    "converters": "Converters",
    "conversion_rate": "Conversion rate",
    "conversion_rate_ci": "Interval of the rate",
    "mean": "Mean per participant",
    "mean_ci": "Interval of the mean",
    "sd": "Standard deviation",
    "abs_lift": "Difference",
    "abs_ci": "Interval of the difference",
    "abs_ci_sequential": "Always-valid interval of the difference",
    "rel_lift": "Lift",
    "rel_ci": "Interval of the lift",
    "rel_ci_sequential": "Always-valid interval of the lift",
    "p_value": "p-value",
    "p_value_adjusted": "Adjusted p-value",
    "p_value_sequential": "Always-valid p-value",
    "p_value_sequential_adjusted": "Adjusted always-valid p-value",
    "state": "Test",
    "outcome": "Outcome",
    "harm_bound": "Worst plausible change",
    "verdict": "Verdict",
    "users_needed": "Users needed per variation",
    "srm_p_value": "Sample ratio p-value",
    "decision": "Decision",
    "event": "Metric",
    "role": "Role",
    "type": "Type",
}
"""Words for the result JSON's fields, wherever one heads a column."""


def label(field: str) -> str:
    """The words for a result field: ``rel_lift`` → ``Lift``."""
    return LABELS.get(field, field.replace("_", " ").capitalize())


def words(value: object, table: Mapping[str, str]) -> str:
    """A field value in words (an unknown value is shown capitalised)."""
    if not isinstance(value, str) or not value:
        return MISSING
    return table.get(value, value.replace("_", " ").capitalize())


def finite(x: object) -> float | None:
    """``x`` as a float if it is a finite number (not a bool), else None."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def _decimals(percent: float) -> int:
    """Enough decimals for two significant digits of a small percentage."""
    size = abs(percent)
    if size >= 1 or size == 0:
        return 1
    return 2 if size >= 0.1 else 3


def count(x: object) -> str:
    """``12,345``."""
    value = finite(x)
    return MISSING if value is None else _signed(f"{round(value):,}")


def percent(x: object, digits: int | None = None) -> str:
    """A share as a percentage: ``0.1234`` → ``12.3%``, ``0.0012`` → ``0.12%``.

    ``digits`` fixes the decimals; by default one, more below 1%.
    """
    value = finite(x)
    if value is None:
        return MISSING
    shown = value * 100
    places = _decimals(shown) if digits is None else digits
    return _signed(f"{shown:,.{places}f}%")


def lift(x: object, digits: int | None = None) -> str:
    """A relative change, signed: ``0.052`` → ``+5.2%``, ``-0.1`` → ``−10.0%``."""
    value = finite(x)
    if value is None:
        return MISSING
    shown = value * 100
    places = _decimals(shown) if digits is None else digits
    return _signed(f"{shown:+,.{places}f}%")


def number(x: object, digits: int | None = None, signed: bool = False) -> str:
    """A mean or an amount: ``4.1488`` → ``4.15``, ``12345.6`` → ``12,346``,
    ``0.004321`` → ``0.00432``. ``digits`` fixes the decimals."""
    value = finite(x)
    if value is None:
        return MISSING
    if digits is None:
        size = abs(value)
        if size >= 10_000:
            digits = 0
        elif size >= 1 or size == 0:
            digits = 2
        else:  # three significant digits
            digits = min(2 - math.floor(math.log10(size)), 12)
    sign = "+" if signed else ""
    return _signed(f"{value:{sign},.{digits}f}")


def interval(ci: object, show: Callable[[object], str] = lift) -> str:
    """``[−1.2%, +3.4%]``; an unbounded or missing interval is an em dash."""
    if not isinstance(ci, Sequence) or isinstance(ci, str) or len(ci) != 2:
        return MISSING
    low, high = show(ci[0]), show(ci[1])
    return MISSING if MISSING in (low, high) else f"[{low}, {high}]"


def p_value(x: object) -> str:
    """``0.042``; below a thousandth ``< 0.001``."""
    value = finite(x)
    if value is None:
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def p_is(x: object) -> str:
    """A p-value in a sentence: ``p = 0.042``, ``p < 0.001``."""
    shown = p_value(x)
    return "p " + shown if shown.startswith("<") else f"p = {shown}"


def when(t: object) -> str:
    """An epoch time as ``2025-11-01 12:00 UTC``."""
    value = finite(t)
    if value is None:
        return MISSING
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(t: object) -> str:
    """An epoch time for ``<time datetime=...>`` (empty when missing)."""
    value = finite(t)
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def ago(t: object, now: float) -> str:
    """How long before ``now``: ``just now``, ``5 minutes ago``, ``3 days ago``."""
    value = finite(t)
    if value is None:
        return MISSING
    seconds = max(0.0, now - value)
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n:,} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def duration(seconds: object) -> str:
    """A length of time in the largest whole unit: ``7 days``, ``90 minutes``."""
    value = finite(seconds)
    if value is None:
        return MISSING
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        if value >= size and value % size == 0:
            n = int(value // size)
            return f"{n:,} {unit}{'' if n == 1 else 's'}"
    return f"{value:,.4g} seconds"


def weights(ws: object) -> str:
    """A split as ``50% / 50%`` (a decimal only where one is needed)."""
    if not isinstance(ws, Sequence) or isinstance(ws, str) or not ws:
        return MISSING
    return " / ".join(percent(w, 0 if _whole(w) else 1) for w in ws)


def _whole(w: object) -> bool:
    value = finite(w)
    return value is not None and abs(value * 100 - round(value * 100)) < 1e-9


def confidence(settings: Mapping[str, object]) -> float | None:
    """The intervals' level, ``1 - alpha`` of the analysis settings."""
    alpha = finite(settings.get("alpha"))
    return None if alpha is None else 1 - alpha


def sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


# -- whole sentences about a result ---------------------------------------------


def phase_text(phase: Mapping[str, object], variations: Sequence[str] = ()) -> str:
    """``Phase 2 of 2, since 2026-11-20 14:00 UTC; split 50% / 50% (control /
    green)``."""
    index, total = finite(phase.get("index")), finite(phase.get("count"))
    started, ended = phase.get("started_at"), phase.get("ended_at")
    text = "Phase"
    if index is not None:
        text += f" {int(index) + 1}" + (f" of {int(total)}" if total else "")
    text += ", since " + ("the start" if finite(started) is None else when(started))
    if finite(ended) is not None:
        text += f" until {when(ended)}"
    split = phase.get("weights")
    if split:
        text += f"; split {weights(split)}"
        if variations:
            text += f" ({' / '.join(variations)})"
    return text


def guard_text(metric: Mapping[str, object]) -> str:
    """What a guardrail guards against: ``must not fall by more than 2%``;
    empty for other roles."""
    if metric.get("role") != "guardrail":
        return ""
    worse = "rise" if metric.get("direction") == "lower" else "fall"
    margin = finite(metric.get("margin"))
    if not margin:
        return f"must not {worse}"
    return f"must not {worse} by more than {percent(margin)}"


def metric_text(metric: Mapping[str, object]) -> str:
    """How a metric is read, in words: ``Primary metric · conversion rate ·
    higher is better · capped at 100 · counted for 7 days after exposure``."""
    parts = [f"{words(metric.get('role'), ROLES)} metric"]
    parts.append(words(metric.get("type"), TYPES))
    guard = guard_text(metric)
    if guard:
        parts.append(guard)
    else:
        lower = metric.get("direction") == "lower"
        parts.append(f"{'lower' if lower else 'higher'} is better")
    cap = finite(metric.get("cap_value"))
    if cap is not None:
        parts.append(f"capped at {number(cap)} per participant")
    window = finite(metric.get("window"))
    if window is not None:
        parts.append(f"counted for {duration(window)} after exposure")
    return " · ".join(parts)


def srm_text(p: object) -> str:
    """The sample-ratio-mismatch warning."""
    return (
        "Sample ratio mismatch: the variations' participants are not in the "
        f"proportions of the split (always-valid {p_is(p)}). Assignment or "
        "tracking is broken somewhere; no verdict can be trusted until it is found."
    )


def exclusion_texts(excluded: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """What the numbers leave out: (warnings, notes), each a sentence."""
    warnings, notes = [], []
    multi = finite(excluded.get("multiple_variations"))
    if multi:
        warnings.append(
            f"{count(multi)} user{'s were' if multi != 1 else ' was'} exposed to "
            "more than one variation and left out of every number."
        )
    boundary = finite(excluded.get("phase_boundary"))
    if boundary:
        notes.append(
            f"{count(boundary)} user{'s' if boundary != 1 else ''} first exposed in "
            "the second the phase began are left out: they may have been split "
            "either way."
        )
    events = finite(excluded.get("unattributed_events"))
    if events:
        notes.append(
            f"{count(events)} event{'s' if events != 1 else ''} did not count: "
            "dated before their user's exposure or outside the metric's window."
        )
    return warnings, notes
