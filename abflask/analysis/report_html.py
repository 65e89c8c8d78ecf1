"""The HTML report: one self-contained page, the dashboard's tables and charts.

Each experiment gets the section the dashboard's experiment page shows
(``abflask.core.render``): the decision, warnings, a table per metric, and
inline SVG charts (rates with intervals per metric, cumulative participants,
cumulative lift with the always-valid band). The CSS is inline and nothing is
fetched, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from abflask.core.render import format as fmt
from abflask.core.render import style, tables
from abflask.core.stats.schema import ExperimentResult

PAGE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
  color:#1d2330;background:#fff}
main{max-width:1100px;margin:0 auto;padding:1.5rem 1.25rem 3rem}
h1{font-size:1.6rem;margin:.3rem 0}
section.experiment>h2{font-size:1.35rem;margin:2.5rem 0 .5rem;
  border-bottom:1px solid #d9dee7;padding-bottom:.3rem}
section.experiment>h2 small{color:#5b6475;font-weight:normal;font-size:.9rem}
.about{color:#5b6475}
@media (max-width:640px){main{padding:.75rem .75rem 2rem}h1{font-size:1.3rem}}
"""
"""The page around the sections (``style.CSS`` styles the sections)."""


def section(result: ExperimentResult) -> str:
    """One experiment's part of the page; its ids start with its key. The
    page says when it was generated, so the section does not."""
    key = result["key"]
    status = fmt.words(result["status"], fmt.STATUSES)
    return (
        f'<section class="experiment" id="{html.escape(key, quote=True)}">'
        f"<h2>{html.escape(result['name'] or key)} <small>{html.escape(key)} · "
        f"{html.escape(status)}</small></h2>\n"
        + tables.results_section(result, now=None, id_prefix=f"{key}-", heading=3)
        + "</section>"
    )


def page(results: list[ExperimentResult], now: datetime) -> str:
    """The whole report, generated at ``now``."""
    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(section(r) for r in results)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>abflask results</title><style>{PAGE}{style.CSS}</style></head>"
        f"<body><main><h1>abflask results</h1><p class=about>Generated {stamp}. "
        "Verdicts use always-valid (sequential) tests on the absolute "
        "difference, adjusted across variations and primary and secondary "
        "metrics; guardrails are tested one-sided on their own.</p>\n"
        f"{body or '<p>No experiments.</p>'}</main></body></html>\n"
    )


def write(results: list[ExperimentResult], path: Path) -> None:
    """Write the report for ``results`` to ``path`` (one file, no external assets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(results, datetime.now(UTC)), encoding="utf-8")
