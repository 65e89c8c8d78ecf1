"""The live counters of an experiment and their snapshots: arguments and decoding. Pure.

Field grammar of the counters hash (written by ``enroll.lua`` and
``track.lua``), where ``<ph>`` is a phase index, or ``x`` for users first
exposed in the second a later phase started in (they belong to no phase):

| field | holds |
|---|---|
| `n` | participants of every phase (what the enrollment cap counts) |
| `p:<ph>:<v>` | participants of phase `ph` in variation `v` |
| `u:<ph>:<v>:<e>` | of them, users with at least one attributed event of event id `e` |
| `k:<ph>:<v>:<e>` | attributed events |
| `s:<ph>:<v>:<e>` | sum of the users' value totals (at most the fixed cap) |
| `q:<ph>:<v>:<e>` | sum of the squares of those totals |
| `m:<ph>:<v>:<e>` | users whose total is below 0 |
| `g:<e>` | the rule `e` is counted by since first seen: `<cap>,<window>` |
| `xu` | participants' events not attributed (too early, or too late) |
| `tm`, `ts` | the minute the next snapshot is due, and the minutes between snapshots |

An event is attributed exactly as the analysis job attributes it (at or
after the user's exposure second, within the metric's window), so the
counters of a phase are the sufficient statistics of the job's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.metric import Metric

BOUNDARY = "x"
"""The phase token of users first exposed in the second a later phase began."""
NO_RULE = "-,-"
"""The counting rule of an event id without a fixed cap or a window."""


def counting_rule(metric: Metric | None) -> str:
    """``<cap>,<window>`` of a metric as track.lua counts it (``-`` for none).

    Only a fixed cap can be applied to running totals; a percentile cap is
    not (the live results take such a metric from the last analysis).
    """
    if metric is None:
        return NO_RULE
    cap = repr(float(metric.cap)) if metric.cap is not None else "-"
    window = str(metric.window) if metric.window is not None else "-"
    return f"{cap},{window}"


def base_second(exp: Experiment) -> int:
    """The second exposure times are stored relative to: the first phase's start."""
    return math.floor(exp.phases[0].started_at) if exp.phases else 0


def phase_token(exp: Experiment, second: int) -> str:
    """The counters' phase of a user first exposed at epoch ``second``."""
    phase = exp.phase_at(second)
    return BOUNDARY if phase is None else str(phase)


def current_phase(exp: Experiment) -> str:
    """The phase new users enter now (the snapshots follow it)."""
    return str(max(len(exp.phases) - 1, 0))


def lead_event(exp: Experiment) -> str:
    """The event key of the metric time series follow: the first primary."""
    for metric in exp.metrics:
        if metric.role == "primary":
            return metric.event
    return exp.metrics[0].event if exp.metrics else ""


def phase_starts(exp: Experiment) -> str:
    """The phases' start times as track.lua reads them (exact decimals)."""
    return " ".join(repr(float(p.started_at)) for p in exp.phases)


@dataclass(frozen=True)
class Cell:
    """One variation's counts of one event key in one phase."""

    users: int = 0
    count: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0
    negative: int = 0


@dataclass
class PhaseCounts:
    """One phase: participants per variation and cells per event key."""

    participants: list[int]
    events: dict[str, list[Cell]] = field(default_factory=dict)

    def cells(self, event: str) -> list[Cell]:
        """The cells of ``event`` per variation (empty cells if never counted)."""
        return self.events.get(event) or [Cell() for _ in self.participants]


@dataclass(frozen=True)
class LiveCounts:
    """Every counter of an experiment, decoded."""

    participants: int
    phases: dict[str, PhaseCounts]
    rules: dict[str, str]
    """Event key → the counting rule its cells follow (see ``counting_rule``)."""
    unattributed: int
    ids: dict[str, int] = field(default_factory=dict)
    """Event key → its event id (the snapshots name the lead metric by id)."""

    def phase(self, token: str, variations: int) -> PhaseCounts:
        """The counts of phase ``token`` (zeros when nobody entered it)."""
        return self.phases.get(token) or PhaseCounts([0] * variations)


@dataclass(frozen=True)
class Snapshot:
    """The counts of the current phase's participants and lead metric at ``t``."""

    t: int
    phase: str
    event_id: int
    participants: list[int]
    cells: list[Cell]


_CELL_KINDS = {
    "u": "users",
    "k": "count",
    "s": "sum",
    "q": "sum_squares",
    "m": "negative",
}


def decode_live(
    variations: int, raw: Mapping[bytes, bytes], ids: Mapping[bytes, bytes]
) -> LiveCounts:
    """The counters hash ``raw`` with event ids named by ``ids`` (the ``ev``
    hash). Fields of unknown variations or event ids are ignored."""
    names = {v.decode(): k.decode() for k, v in ids.items() if not k.startswith(b"#")}
    phases: dict[str, PhaseCounts] = {}
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    rules: dict[str, str] = {}
    for key, value in raw.items():
        kind, _, rest = key.decode().partition(":")
        if kind == "g" and rest in names:
            rules[names[rest]] = value.decode()
            continue
        parts = rest.split(":")
        if kind == "p" and len(parts) == 2 and int(parts[1]) < variations:
            phase = phases.setdefault(parts[0], PhaseCounts([0] * variations))
            phase.participants[int(parts[1])] = int(value)
        elif kind in _CELL_KINDS and len(parts) == 3 and parts[2] in names:
            v = int(parts[1])
            if v >= variations:
                continue
            row = cells.setdefault(
                (parts[0], names[parts[2]]), [{} for _ in range(variations)]
            )
            number: float = float(value) if kind in "sq" else int(value)
            row[v][_CELL_KINDS[kind]] = number
    for (token, event), row in cells.items():
        phase = phases.setdefault(token, PhaseCounts([0] * variations))
        phase.events[event] = [Cell(**c) for c in row]
    return LiveCounts(
        participants=int(raw.get(b"n", 0)),
        phases=phases,
        rules=rules,
        unattributed=int(raw.get(b"xu", 0)),
        ids={name: int(i) for i, name in names.items()},
    )


def decode_snapshots(raw: Sequence[bytes], variations: int) -> list[Snapshot]:
    """The snapshot list (include/series.lua), oldest first; entries written
    for another number of variations are skipped."""
    out = []
    for entry in raw:
        minute, phase, event_id, k, *numbers = entry.split()
        if int(k) != variations or len(numbers) != 5 * variations:
            continue
        participants = [int(x) for x in numbers[:variations]]
        rest = numbers[variations:]
        cells = [
            Cell(
                users=int(rest[4 * v]),
                sum=float(rest[4 * v + 1]),
                sum_squares=float(rest[4 * v + 2]),
                negative=int(rest[4 * v + 3]),
            )
            for v in range(variations)
        ]
        t = int(minute) * 60
        out.append(Snapshot(t, phase.decode(), int(event_id), participants, cells))
    return out


def decode_counters(
    variations: Sequence[str],
    raw: Mapping[bytes, bytes],
    ids: Mapping[bytes, bytes],
) -> dict[str, Any]:
    """Counts by variation and event key over every phase: the ``counts`` of
    ``GET /experiments/<key>``."""
    live = decode_live(len(variations), raw, ids)
    per_var: list[dict[str, Any]] = [
        {"name": name, "participants": 0, "events": {}} for name in variations
    ]
    for phase in live.phases.values():
        for i, n in enumerate(phase.participants):
            per_var[i]["participants"] += n
        for event, cells in phase.events.items():
            for i, c in enumerate(cells):
                if not c.count:
                    continue
                total = per_var[i]["events"].setdefault(
                    event, {"users": 0, "count": 0, "sum": 0.0, "sum_squares": 0.0}
                )
                total["users"] += c.users
                total["count"] += c.count
                total["sum"] += c.sum
                total["sum_squares"] += c.sum_squares
    return {"participants": live.participants, "variations": per_var}
