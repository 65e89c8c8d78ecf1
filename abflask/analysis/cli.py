"""The analysis command line: ``main(argv)`` returns the exit status.

0 done (also when another run holds the lock), 1 failed, 2 usage error.
``scripts/analyze.py`` and ``python -m abflask.analysis`` call it. Without
``REDIS_URL`` it uses the private Redis of a running ``make run``, if any.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from abflask import config
from abflask.analysis import job, report_text
from abflask.errors import AbflaskError
from abflask.storage import localredis

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analyze.py", description="Analyse abflask experiments."
    )
    p.add_argument("--experiment", metavar="KEY", help="only this experiment")
    p.add_argument("--full", action="store_true", help="recompute from the start")
    p.add_argument(
        "--input",
        type=Path,
        metavar="FILE.csv",
        help="analyse a CSV file instead of Redis (needs --experiment)",
    )
    p.add_argument("--variations", help="CSV input: variation names, control first")
    p.add_argument("--metrics", help="CSV input: event keys to analyse")
    p.add_argument(
        "--export",
        type=Path,
        metavar="FILE.csv",
        help="write --experiment's log as CSV and stop",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--csv", type=Path, metavar="DIR", help="also write CSV files")
    p.add_argument(
        "--html", type=Path, metavar="FILE", help="also write an HTML report"
    )
    p.add_argument("--state-dir", type=Path, help="default: $ABFLASK_DATA_DIR/analysis")
    p.add_argument(
        "--no-write",
        action="store_true",
        help="do not store results or state (a dry run)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see ``--help``."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
        return int(exc.code or 0)
    if (args.input or args.export) and not args.experiment:
        parser.print_usage(sys.stderr)
        print("analyze.py: --input and --export need --experiment", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("abflask").setLevel(logging.INFO)
    try:
        settings = config.load()
        settings["REDIS_URL"] = localredis.resolve_url(
            settings, config.redis_url_is_set()
        )
        found = job.run(args, settings, tty)
        if found is None:
            return 0
        report_text.emit(found, args.format, sys.stdout)
        if args.csv:
            report_text.write_csv(found, args.csv)
        if args.html:
            from abflask.analysis import report_html

            report_html.write(found, args.html)
    except AbflaskError as exc:
        logger.error("analysis failed: %s", exc)
        return 1
    except (OSError, ValueError) as exc:
        logger.error("analysis failed: %s", exc)
        return 1
    return 0
