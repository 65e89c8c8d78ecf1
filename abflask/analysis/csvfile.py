"""Experiment logs as CSV: export from Redis, and aggregates from a file.

The columns are ``CSV_COLUMNS``; an exposure row has the event ``$exposure``
and ``user_id`` is the stored 8-byte fingerprint in hex (abflask never stores
raw user ids). Used by ``--export`` and ``--input``.
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


def export_csv(
    chunks: Iterable[list[bytes]], exp: Experiment, names: Mapping[int, str], out: Path
) -> int:
    """Write log records as CSV (user_id = fingerprint hex); rows written.

    ``chunks`` are raw log records in order; ``names`` maps event ids to keys.
    """
    rows = 0
    with out.open("w", newline="") as fh:
        fh.write(",".join(CSV_COLUMNS) + "\n")
        for chunk in chunks:
            cols = aggregate.decode(chunk)
            frame = pd.DataFrame(
                {
                    "user_id": [f"{u:016x}" for u in cols["user"]],
                    "variation": np.asarray(exp.variations, dtype=object)[
                        cols["variation"]
                    ],
                    "event": [
                        EXPOSURE_EVENT if x else names.get(int(e), str(e))
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
