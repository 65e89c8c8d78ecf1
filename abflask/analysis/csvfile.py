"""Experiment logs as CSV: export from Redis, and aggregates from a file.

The columns are ``CSV_COLUMNS``; an exposure row has the event ``$exposure``
and ``user_id`` is the stored 8-byte fingerprint in hex (abflask never stores
raw user ids). Used by ``--export`` and ``--input`` (with ``--definition``,
an experiment's JSON). Every CSV the job writes passes its text cells through
``spreadsheet_safe``, so a name such as ``=HYPERLINK(...)`` is shown, never
run, by a spreadsheet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from abflask.analysis import aggregate
from abflask.analysis.aggregate import Aggregates
from abflask.core import experiment
from abflask.core.experiment import Experiment, Phase, split_weights
from abflask.core.metric import parse_analysis, parse_metrics
from abflask.errors import ValidationError

EXPOSURE_EVENT = "$exposure"
"""The event name of exposure rows."""
CSV_COLUMNS = ["user_id", "variation", "event", "value", "timestamp"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""
MAX_EVENT_KEYS = aggregate.EVENT_IDS - 1
"""Distinct event keys (with ``$exposure``) a file may have: ids are 2 bytes."""
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


def load_definition(path: Path) -> Experiment:
    """An experiment from ``path``: its JSON as ``GET /experiments/<key>`` returns it.

    Variations, weights, metrics, analysis settings and phases are used; the
    metrics and settings are checked as the admin API checks them.
    ValidationError (naming the file and the field) for anything else.
    """
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise ValidationError("definition", f"{path}: not JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValidationError("definition", f"{path}: not a JSON object")
    try:
        parse_metrics(raw.get("metrics"))
        parse_analysis(raw.get("analysis"))
        exp = Experiment.from_dict(raw)
    except ValidationError as exc:
        raise ValidationError(exc.field, f"{path}: {exc.field}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(
            "definition", f"{path}: not an experiment ({type(exc).__name__}: {exc})"
        ) from exc
    _check_phases(exp, f"{path}: phases")
    return exp


def _check_phases(exp: Experiment, where: str) -> None:
    k = len(exp.variations)
    for i, phase in enumerate(exp.phases):
        w = phase.weights
        if len(w) != k or not all(math.isfinite(x) and x >= 0 for x in w):
            raise ValidationError(
                "phases",
                f"{where}[{i}]: weights must be {k} numbers, one per variation",
            )


def parse_weights(raw: str, n: int) -> tuple[float, ...]:
    """``--weights`` (``0.9,0.1``): one share per variation, summing to 1 (±0.01),
    checked as the admin API checks ``weights``."""
    try:
        weights = experiment.parse_weights([float(x) for x in raw.split(",")], n)
    except (ValueError, ValidationError) as exc:  # not numbers, or refused
        raise ValidationError("weights", f"--weights {raw!r}: {exc}") from exc
    return split_weights(weights, n)


def _problem(column: str, bad: np.ndarray, cells: pd.Series, what: str) -> None:
    """ValidationError naming the first bad row (1-based, header included)."""
    rows = np.flatnonzero(bad)
    if len(rows) == 0:
        return
    more = f" ({len(rows):,} rows like it)" if len(rows) > 1 else ""
    raise ValidationError(
        column,
        f"row {rows[0] + 2}, column {column}: {cells.iloc[rows[0]]!r} {what}{more}",
    )


def _read(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The file's rows with text cells, values (NaN: none) and timestamps."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError("input", f"{path}: missing columns {', '.join(missing)}")
    for column in ("user_id", "event"):
        _problem(column, (frame[column] == "").to_numpy(), frame[column], "is empty")
    for column in ("variation", "event"):
        frame[column] = frame[column].map(spreadsheet_text)
    cells = frame["value"].str.strip()
    value = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64, copy=True)
    given = (cells != "").to_numpy()
    _problem("value", given & ~np.isfinite(value), cells, "is not a finite number")
    value[~given] = np.nan
    cells = frame["timestamp"].str.strip()
    stamp = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64)
    whole = np.isfinite(stamp) & (stamp >= 0) & (stamp < aggregate.TIME_LIMIT)
    whole[whole] = stamp[whole] == np.floor(stamp[whole])
    _problem("timestamp", ~whole, cells, "is not whole epoch seconds (0 to 4294967295)")
    return frame, value, stamp.astype(np.int64)


def _experiment(
    key: str,
    seen: list[str],
    definition: Experiment | None,
    variations: Sequence[str] | None,
    metrics: Sequence[str] | None,
    weights: str | None,
) -> Experiment:
    """The experiment a file is analysed as: the definition, then overrides."""
    if definition is not None:
        exp = replace(definition, key=key)
    else:
        order = sorted(seen, key=lambda v: (v.lower() not in ("control", "a"), v))
        exp = Experiment(key=key, variations=tuple(order), status="running")
    if variations:
        exp = replace(exp, variations=tuple(variations))
        if exp.weights is not None and len(exp.weights) != len(variations):
            exp = replace(exp, weights=None)
    if len(exp.variations) < 2 or set(seen) - set(exp.variations):
        raise ValidationError(
            "variations",
            f"variations {seen} in the file do not match {list(exp.variations)}",
        )
    if metrics:
        exp = replace(exp, metrics=parse_metrics(list(metrics)))
    if weights:
        split = parse_weights(weights, len(exp.variations))
        last = exp.phases[-1:]
        exp = replace(
            exp,
            weights=split,
            phases=exp.phases[:-1] + tuple(Phase(p.started_at, split) for p in last),
        )
    _check_phases(exp, "phases")
    return exp


def from_csv(
    path: Path,
    key: str,
    *,
    variations: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    weights: str | None = None,
    definition: Experiment | None = None,
) -> tuple[Experiment, Aggregates, dict[int, str]]:
    """The experiment and its aggregates from a CSV file (see CSV_COLUMNS).

    The experiment is ``definition`` (``load_definition``) or one running
    experiment with the file's variations (control or ``a`` first), with
    ``variations``, ``metrics`` (event keys, the first primary) and
    ``weights`` (``0.9,0.1``: the current phase's) overriding it. Rows are
    taken in time order, exposures before events of the same second (stable
    otherwise), so a user exposed twice keeps the earliest exposure and the
    attribution rules are those of the log (``aggregate.Aggregates``).

    Raises ValidationError naming the first bad row (1-based, as a
    spreadsheet numbers it with the header as row 1) and column: an empty
    user_id or event, a value that is given but not a finite number (an
    empty cell is no value), a timestamp that is not whole epoch seconds.
    """
    frame, value, stamp = _read(path)
    is_exposure = (frame["event"] == EXPOSURE_EVENT).to_numpy()
    seen = list(dict.fromkeys(frame["variation"].to_numpy()[is_exposure]))
    exp = _experiment(key, seen, definition, variations, metrics, weights)
    var_index = {name: i for i, name in enumerate(exp.variations)}
    order = np.lexsort((~is_exposure, stamp))  # stable: file order on ties
    user_codes, _ = pd.factorize(frame["user_id"].to_numpy()[order])
    event_codes, event_names = pd.factorize(frame["event"].to_numpy()[order])
    if len(event_names) > MAX_EVENT_KEYS:
        raise ValidationError(
            "event", f"{path}: more than {MAX_EVENT_KEYS:,} distinct events"
        )
    names = {i + 1: str(n) for i, n in enumerate(event_names) if n != EXPOSURE_EVENT}
    agg = Aggregates(aggregate.windows(exp, names))
    variation = frame["variation"].map(var_index).fillna(0).to_numpy(np.int16)
    agg.fold(
        {
            "variation": variation[order],
            "exposure": is_exposure[order],
            "at": stamp[order],
            "user": user_codes.astype(np.uint64),
            "event": (event_codes + 1).astype(np.uint16),
            "value": np.nan_to_num(value[order], nan=0.0),
        }
    )
    return exp, agg, names
