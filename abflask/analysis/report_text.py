"""Analysis output for people and machines: terminal table, JSON and CSV.

Takes the result dicts of ``results.compute`` and writes them; computes
nothing. The HTML report with plots is in ``report_html``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from abflask.analysis.csvfile import spreadsheet_safe
from abflask.analysis.results import ExperimentResult


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


def table(result: ExperimentResult) -> str:
    """One experiment as a readable block of text."""
    lines = [
        f"Experiment {result['key']} ({result['status']}): "
        + ", ".join(f"{k} {v:,}" for k, v in result["participants"].items())
        + " participants"
    ]
    if result["srm_warning"]:
        lines.append(
            f"  WARNING: sample ratio mismatch (p = {_p(result['srm_p_value'])}): "
            "assignment or tracking is broken; do not trust these results"
        )
    head = (
        "variation",
        "users",
        "conv.",
        "rate",
        "rel. lift",
        "95% CI (seq.)",
        "p",
        "p seq.",
        "mean",
        "mean lift",
        "p (mean)",
    )
    for metric in result["metrics"]:
        rows = [head]
        for v in metric["variations"]:
            c, m = v["conversion"], v["value"]
            rows.append(
                (
                    v["name"],
                    f"{v['participants']:,}",
                    f"{v['converters']:,}",
                    _pct(v["conversion_rate"]),
                    _pct(c["rel_lift"], True),
                    _ci(c["rel_ci_sequential"]),
                    _p(c["p_value_holm"]),
                    _p(c["p_value_sequential_holm"]),
                    _num(v["mean"]),
                    _pct(m["rel_lift"], True),
                    _p(m["p_value_holm"]),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines.append(f"\n  metric {metric['event']}")
        for r in rows:
            lines.append(
                "  "
                + "  ".join(
                    cell.rjust(w) if i else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        lines.append(f"  → {metric['verdict']}")
    lines.append(
        "  (p: Holm-adjusted fixed-horizon; p seq.: always-valid, Holm-adjusted)"
    )
    return "\n".join(lines)


def emit(results: list[ExperimentResult], fmt: str, out: TextIO) -> None:
    """Write the results to ``out`` as ``table`` text or ``json``."""
    if fmt == "json":
        json.dump({"experiments": results}, out, indent=2, allow_nan=False)
        out.write("\n")
        return
    out.write("\n\n".join(table(r) for r in results) + "\n")


SUMMARY_FIELDS = [
    "experiment",
    "event",
    "variation",
    "participants",
    "converters",
    "conversion_rate",
    "mean",
    "srm_p_value",
    "srm_warning",
    "verdict",
] + [
    f"{kind}_{name}"
    for kind in ("conversion", "value")
    for name in (
        "abs_lift",
        "abs_ci_low",
        "abs_ci_high",
        "rel_lift",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "p_value_holm",
        "p_value_sequential",
        "p_value_sequential_holm",
        "rel_ci_sequential_low",
        "rel_ci_sequential_high",
    )
]


def summary_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """One flat row per metric and variation."""
    rows = []
    for metric in result["metrics"]:
        for v in metric["variations"]:
            row: dict[str, Any] = {
                "experiment": result["key"],
                "event": metric["event"],
                "variation": v["name"],
                "participants": v["participants"],
                "converters": v["converters"],
                "conversion_rate": v["conversion_rate"],
                "mean": v["mean"],
                "srm_p_value": result["srm_p_value"],
                "srm_warning": result["srm_warning"],
                "verdict": metric["verdict"],
            }
            for kind in ("conversion", "value"):
                cell: Mapping[str, Any] = v[kind]
                for name in (
                    "abs_lift",
                    "rel_lift",
                    "p_value",
                    "p_value_holm",
                    "p_value_sequential",
                    "p_value_sequential_holm",
                ):
                    row[f"{kind}_{name}"] = cell[name]
                for name in ("abs_ci", "rel_ci", "rel_ci_sequential"):
                    low, high = cell[name] or (None, None)
                    row[f"{kind}_{name}_low"], row[f"{kind}_{name}_high"] = low, high
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
