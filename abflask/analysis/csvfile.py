"""Experiment logs as CSV: export from Redis, and aggregates from a file.

The columns are ``CSV_COLUMNS``; an exposure row has the event ``$exposure``
and ``user_id`` is the stored 8-byte fingerprint in hex (abflask never stores
raw user ids). Used by ``--export`` and ``--input``. Every CSV the job writes
passes its text cells through ``spreadsheet_safe``, so a name such as
``=HYPERLINK(...)`` is shown, never run, by a spreadsheet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from abflask.analysis import aggregate
from abflask.analysis.aggregate import Aggregates
from abflask.core.experiment import Experiment
from abflask.errors import ValidationError

EXPOSURE_EVENT = "$exposure"
"""The event name of exposure rows."""
CSV_COLUMNS = ["user_id", "variation", "event", "value", "timestamp"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""
QUOTE = "'"
"""Prefixed to such text cells (and to text starting with it, so it reverses)."""


def spreadsheet_safe(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula, quoted; others as they are.

    Only strings change: numbers (a negative one included) stay numbers.

    >>> spreadsheet_safe('=1+1'), spreadsheet_safe(-2.5), spreadsheet_safe("a")
    ("'=1+1", -2.5, 'a')
    """
    if isinstance(cell, str) and cell.startswith((*FORMULA_START, QUOTE)):
        return QUOTE + cell
    return cell


def spreadsheet_text(cell: str) -> str:
    """Undo ``spreadsheet_safe`` on a text cell read back from our own CSV."""
    if cell.startswith(QUOTE) and cell[1:].startswith((*FORMULA_START, QUOTE)):
        return cell[1:]
    return cell


def export_csv(
    chunks: Iterable[list[bytes]], exp: Experiment, names: Mapping[int, str], out: Path
) -> int:
    """Write log records as CSV (user_id = fingerprint hex); rows written.

    ``chunks`` are raw log records in order; ``names`` maps event ids to keys.
    """
    rows = 0
    variations = np.asarray([spreadsheet_safe(v) for v in exp.variations], dtype=object)
    events = {int(e): str(spreadsheet_safe(name)) for e, name in names.items()}
    with out.open("w", newline="") as fh:
        fh.write(",".join(CSV_COLUMNS) + "\n")
        for chunk in chunks:
            cols = aggregate.decode(chunk)
            frame = pd.DataFrame(
                {
                    "user_id": [f"{u:016x}" for u in cols["user"]],
                    "variation": variations[cols["variation"]],
                    "event": [
                        EXPOSURE_EVENT if x else events.get(int(e), str(e))
                        for x, e in zip(cols["exposure"], cols["event"], strict=True)
                    ],
                    "value": np.where(cols["exposure"], np.nan, cols["value"]),
                    "timestamp": cols["at"],
                }
            )
            frame.to_csv(fh, header=False, index=False, float_format="%.17g")
            rows += len(frame)
    return rows


def from_csv(
    path: Path, key: str, variations: list[str] | None, metrics: list[str]
) -> tuple[Experiment, Aggregates, dict[int, str]]:
    """Aggregates from an exported or hand-made CSV file (see CSV_COLUMNS)."""
    frame = pd.read_csv(path, dtype={"user_id": str, "variation": str, "event": str})
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError("input", f"{path}: missing columns {', '.join(missing)}")
    for column in ("variation", "event"):
        frame[column] = frame[column].map(spreadsheet_text, na_action="ignore")
    seen = list(dict.fromkeys(frame.loc[frame["event"] == EXPOSURE_EVENT, "variation"]))
    order = variations or sorted(
        seen, key=lambda v: (v.lower() not in ("control", "a"), v)
    )
    if len(order) < 2 or set(seen) - set(order):
        raise ValidationError(
            "variations", f"{path}: variations {seen} do not match {order}"
        )
    exp = Experiment(
        key=key, variations=tuple(order), metrics=tuple(metrics), status="running"
    )
    user_codes, _ = pd.factorize(frame["user_id"])
    event_codes, event_names = pd.factorize(frame["event"])
    is_exposure = (frame["event"] == EXPOSURE_EVENT).to_numpy()
    var_index = {name: i for i, name in enumerate(order)}
    agg = Aggregates()
    agg.fold(
        {
            "variation": frame["variation"].map(var_index).fillna(0).to_numpy(np.int16),
            "exposure": is_exposure,
            "at": frame["timestamp"].to_numpy(np.int64),
            "user": user_codes.astype(np.uint64),
            "event": (event_codes + 1).astype(np.uint16),
            "value": frame["value"].fillna(0.0).to_numpy(np.float64),
        }
    )
    names = {i + 1: str(n) for i, n in enumerate(event_names) if n != EXPOSURE_EVENT}
    return exp, agg, names
