"""Analysis output for people and machines: terminal table, JSON and CSV.

Takes the result dicts of ``results.compute`` and writes them; computes
nothing. Numbers and words are ``abflask.core.render.format``'s, as in the
HTML report (``report_html``) and the dashboard.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from abflask.analysis.csvfile import spreadsheet_safe
from abflask.core.render import format as fmt
from abflask.core.stats.schema import (
    ComparisonResult,
    ExperimentResult,
    MetricResult,
    VariationResult,
)


def phase_line(result: ExperimentResult) -> str:
    """``phase 2 of 2, since 2026-11-20 14:00 UTC; split 50% / 50%``."""
    text = fmt.phase_text(result["phase"])
    return text[0].lower() + text[1:]


def warnings(result: ExperimentResult) -> list[str]:
    """What makes the numbers suspect, in plain words."""
    out = [fmt.srm_text(result["srm_p_value"])] if result["srm_warning"] else []
    return out + fmt.exclusion_texts(result["excluded"])[0]


def metric_title(metric: MetricResult) -> str:
    """``purchase (Primary metric · conversion rate · higher is better)``."""
    return f"{metric['event']} ({fmt.metric_text(metric)})"


HEAD = (
    fmt.label("name"),
    fmt.label("participants"),
    fmt.label("converters"),
    fmt.label("conversion_rate"),
    "Mean",
    fmt.label("rel_lift"),
    "Always-valid interval",
    "p adj.",
    "Always-valid p adj.",
    fmt.label("outcome"),
)
"""The text table's headings (short: a terminal is narrow)."""


def _row(metric: MetricResult, v: VariationResult) -> tuple[str, ...]:
    c: ComparisonResult = v["value"] if metric["type"] == "value" else v["conversion"]
    return (
        v["name"],
        fmt.count(v["participants"]),
        fmt.count(v["converters"]),
        fmt.percent(v["conversion_rate"]),
        fmt.number(v["mean"]) if metric["type"] == "value" else fmt.MISSING,
        fmt.lift(c["rel_lift"]),
        fmt.interval(c["rel_ci_sequential"]),
        fmt.p_value(c["p_value_adjusted"]),
        fmt.p_value(c["p_value_sequential_adjusted"]),
        "" if v["outcome"] is None else fmt.words(v["outcome"], fmt.OUTCOMES),
    )


def table(result: ExperimentResult) -> str:
    """One experiment as a readable block of text."""
    decision = result["decision"]
    lines = [
        f"Experiment {result['key']} "
        f"({fmt.words(result['status'], fmt.STATUSES).lower()}), "
        f"{phase_line(result)}: "
        + ", ".join(f"{k} {fmt.count(v)}" for k, v in result["participants"].items())
        + " participants",
        f"  DECISION: {fmt.words(decision['state'], fmt.DECISIONS).upper()} — "
        f"{decision['summary']}",
    ]
    lines += [f"  WARNING: {w}" for w in warnings(result)]
    for metric in result["metrics"]:
        rows = [HEAD, *(_row(metric, v) for v in metric["variations"])]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
        lines.append(f"\n  metric {metric_title(metric)}")
        if metric.get("note"):
            lines.append(f"  note: {metric.get('note')}")
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
        "adjusted fixed-horizon; always-valid p adj.: sequential, adjusted; "
        "guardrails are tested one-sided on their own)"
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
