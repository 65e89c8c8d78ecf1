"""The live counters hash of an experiment, decoded. Pure.

Field grammar (written by ``enroll.lua`` and ``track.lua``): ``n``
participants; ``p:<v>`` participants of variation index ``v``; per variation
``v`` and event id ``e``: ``u:v:e`` users, ``k:v:e`` events, ``s:v:e`` sum of
values, ``q:v:e`` sum of squares of per-user totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

KINDS = {"u": "users", "k": "count", "s": "sum", "q": "sum_squares"}
"""Per-event counter prefix → its name in the decoded form."""


def decode_counters(
    variations: Sequence[str],
    raw: Mapping[bytes, bytes],
    ids: Mapping[bytes, bytes],
) -> dict[str, Any]:
    """Counts by variation and event key, from the ``c`` and ``ev`` hashes.

    Fields of unknown variations or event ids are ignored.
    """
    names = {v.decode(): k.decode() for k, v in ids.items() if k != b"#"}
    per_var: list[dict[str, Any]] = [
        {
            "name": name,
            "participants": int(raw.get(f"p:{i}".encode(), 0)),
            "events": {},
        }
        for i, name in enumerate(variations)
    ]
    for field, value in raw.items():
        kind, _, rest = field.decode().partition(":")
        if kind not in KINDS or ":" not in rest:
            continue
        var, _, ev = rest.partition(":")
        if int(var) >= len(per_var) or ev not in names:
            continue
        cell = per_var[int(var)]["events"].setdefault(
            names[ev], {"users": 0, "count": 0, "sum": 0.0, "sum_squares": 0.0}
        )
        number = float(value) if kind in "sq" else int(value)
        cell[KINDS[kind]] = number
    return {"participants": int(raw.get(b"n", 0)), "variations": per_var}
