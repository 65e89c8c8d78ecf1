"""Analysis output for people and machines: terminal table, JSON and CSV.

Takes the result dicts of ``results.compute`` and writes them; computes
nothing. The HTML report with plots is in ``report_html``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from abflask.analysis.csvfile import spreadsheet_safe
from abflask.core.stats.schema import ExperimentResult, MetricResult


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.2%}" if signed else f"{x:.2%}"


def _ci(ci: list[float | None] | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "—"
    return f"[{ci[0]:+.1%}, {ci[1]:+.1%}]"


def _p(p: float | None) -> str:
    return "—" if p is None else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:,.4g}"


def _when(t: float | None) -> str:
    if t is None:
        return "the start"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def phase_line(result: ExperimentResult) -> str:
    """``phase 2 of 2, since 2026-11-20 14:00 UTC, weights 50% / 50%``."""
    phase = result["phase"]
    weights = " / ".join(f"{w:.0%}" for w in phase["weights"])
    until = f" until {_when(phase['ended_at'])}" if phase["ended_at"] else ""
    return (
        f"phase {phase['index'] + 1} of {phase['count']}, since "
        f"{_when(phase['started_at'])}{until}, weights {weights}"
    )


def warnings(result: ExperimentResult) -> list[str]:
    """What makes the numbers suspect, in plain words."""
    out = []
    if result["srm_warning"]:
        out.append(
            f"sample ratio mismatch (always-valid p = {_p(result['srm_p_value'])}): "
            "assignment or tracking is broken; do not trust these results"
        )
    multi = result["excluded"]["multiple_variations"]
    if multi:
        out.append(
            f"{multi:,} users were exposed to more than one variation and are "
            "left out of every number"
        )
    return out


def metric_title(metric: MetricResult) -> str:
    """``purchase (primary; conversion; higher is better)``."""
    parts = [metric["role"], metric["type"], f"{metric['direction']} is better"]
    if metric["margin"] is not None:
        parts.append(f"margin {metric['margin']:.1%}")
    if metric["cap_value"] is not None:
        parts.append(f"capped at {metric['cap_value']:,.4g}")
    if metric["window"] is not None:
        parts.append(f"window {metric['window'] / 3600:,.4g} h")
    return f"{metric['event']} ({'; '.join(parts)})"


def table(result: ExperimentResult) -> str:
    """One experiment as a readable block of text."""
    decision = result["decision"]
    lines = [
        f"Experiment {result['key']} ({result['status']}), {phase_line(result)}: "
        + ", ".join(f"{k} {v:,}" for k, v in result["participants"].items())
        + " participants",
        f"  DECISION: {decision['state'].replace('_', ' ').upper()} — "
        f"{decision['summary']}",
    ]
    lines += [f"  WARNING: {w}" for w in warnings(result)]
    head = (
        "variation",
        "users",
        "conv.",
        "rate",
        "mean",
        "lift",
        "CI (always valid)",
        "p adj.",
        "p seq. adj.",
        "outcome",
    )
    for metric in result["metrics"]:
        rows = [head]
        for v in metric["variations"]:
            c = v[metric["type"]]  # type: ignore[literal-required]
            rows.append(
                (
                    v["name"],
                    f"{v['participants']:,}",
                    f"{v['converters']:,}",
                    _pct(v["conversion_rate"]),
                    _num(v["mean"]) if metric["type"] == "value" else "—",
                    _pct(c["rel_lift"], True),
                    _ci(c["rel_ci_sequential"]),
                    _p(c["p_value_adjusted"]),
                    _p(c["p_value_sequential_adjusted"]),
                    (v["outcome"] or "").replace("_", " "),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines.append(f"\n  metric {metric_title(metric)}")
        for r in rows:
            lines.append(
                "  "
                + "  ".join(
                    cell.rjust(w) if i else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(r, widths, strict=True))
                ).rstrip()
            )
        lines.append(f"  → {metric['verdict']}")
    settings = result["settings"]
    lines.append(
        f"  (lift: relative, on each metric's type; p adj.: {settings['correction']}-"
        "adjusted fixed-horizon; p seq. adj.: always-valid, adjusted; guardrails "
        "are tested one-sided on their own)"
    )
    return "\n".join(lines)


def emit(results: list[ExperimentResult], fmt: str, out: TextIO) -> None:
    """Write the results to ``out`` as ``table`` text or ``json``."""
    out.write(render(results, fmt))


def render(results: list[ExperimentResult], fmt: str) -> str:
    """The text ``emit`` writes; ValueError (nothing written) on a non-finite number."""
    if fmt == "json":
        return json.dumps({"experiments": results}, indent=2, allow_nan=False) + "\n"
    return "\n\n".join(table(r) for r in results) + "\n"


COMPARISON_COLUMNS = (
    "abs_lift",
    "abs_ci_low",
    "abs_ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "p_value_adjusted",
    "p_value_sequential",
    "p_value_sequential_adjusted",
    "abs_ci_sequential_low",
    "abs_ci_sequential_high",
    "rel_ci_sequential_low",
    "rel_ci_sequential_high",
    "state",
)
SUMMARY_FIELDS = [
    "experiment",
    "phase",
    "decision",
    "event",
    "role",
    "type",
    "direction",
    "variation",
    "participants",
    "converters",
    "conversion_rate",
    "mean",
    "outcome",
    "harm_bound",
    "srm_p_value",
    "srm_warning",
    "verdict",
] + [
    f"{kind}_{name}" for kind in ("conversion", "value") for name in COMPARISON_COLUMNS
]


def summary_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """One flat row per metric and variation."""
    rows = []
    for metric in result["metrics"]:
        for v in metric["variations"]:
            row: dict[str, Any] = {
                "experiment": result["key"],
                "phase": result["phase"]["index"],
                "decision": result["decision"]["state"],
                "event": metric["event"],
                "role": metric["role"],
                "type": metric["type"],
                "direction": metric["direction"],
                "variation": v["name"],
                "participants": v["participants"],
                "converters": v["converters"],
                "conversion_rate": v["conversion_rate"],
                "mean": v["mean"],
                "outcome": v["outcome"],
                "harm_bound": v["harm_bound"],
                "srm_p_value": result["srm_p_value"],
                "srm_warning": result["srm_warning"],
                "verdict": metric["verdict"],
            }
            for kind in ("conversion", "value"):
                cell: Mapping[str, Any] = v[kind]
                for name in COMPARISON_COLUMNS:
                    if name.endswith(("_low", "_high")):
                        interval, _, side = name.rpartition("_")
                        low, high = cell[interval] or (None, None)
                        row[f"{kind}_{name}"] = low if side == "low" else high
                    else:
                        row[f"{kind}_{name}"] = cell[name]
            rows.append(row)
    return rows


def write_csv(results: list[ExperimentResult], directory: Path) -> None:
    """``summary.csv`` (numbers per metric and variation) and ``timeseries.csv``.

    Text cells go through ``spreadsheet_safe``: names come from admins and
    must not run as formulas when the file is opened in a spreadsheet.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "summary.csv").open("w", newline="") as fh:
        summary = csv.DictWriter(fh, SUMMARY_FIELDS)
        summary.writeheader()
        for result in results:
            summary.writerows(
                {k: spreadsheet_safe(v) for k, v in row.items()}
                for row in summary_rows(result)
            )
    with (directory / "timeseries.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "experiment",
                "phase",
                "event",
                "t",
                "variation",
                "participants",
                "converters",
                "rel_lift",
                "rel_ci_seq_low",
                "rel_ci_seq_high",
            ]
        )
        for result in results:
            series = result["timeseries"]
            for point in series["points"]:
                for i, name in enumerate(result["variations"]):
                    lift = point["lift"][i - 1] if i else None
                    ci = lift["rel_ci_sequential"] if lift else [None, None]
                    row = [
                        result["key"],
                        result["phase"]["index"],
                        series["event"],
                        point["t"],
                        name,
                        point["participants"][i],
                        point["converters"][i],
                        lift["rel_lift"] if lift else None,
                        ci[0],
                        ci[1],
                    ]
                    writer.writerow([spreadsheet_safe(cell) for cell in row])
