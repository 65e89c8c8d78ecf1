"""The analysis command line: ``main(argv)`` returns the exit status.

0 done (also when another run holds the lock), 1 failed, 2 usage error.
``scripts/analyze.py`` and ``python -m abflask.analysis`` call it. Without
``REDIS_URL`` it uses the private Redis of a running ``make run``, if any.
"""

from __future__ import annotations

import argparse
import io
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
        "--phase",
        type=int,
        metavar="N",
        help="analyse phase N (0 is the first; default: the current one); "
        "results of an earlier phase are shown, not stored",
    )
    p.add_argument(
        "--input",
        type=Path,
        metavar="FILE.csv",
        help="analyse a CSV file instead of Redis (needs --experiment or --definition)",
    )
    p.add_argument(
        "--definition",
        type=Path,
        metavar="FILE.json",
        help="CSV input: the experiment as GET /experiments/<key> returns it "
        "(variations, weights, metrics, analysis, phases)",
    )
    p.add_argument("--variations", help="CSV input: variation names, control first")
    p.add_argument("--metrics", help="CSV input: event keys to analyse")
    p.add_argument(
        "--weights",
        metavar="0.9,0.1",
        help="CSV input: the share of each variation (default: equal)",
    )
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


def _usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of options, if anything."""
    if args.export and not args.experiment:
        return "--export needs --experiment"
    if args.input and not (args.experiment or args.definition):
        return "--input needs --experiment or --definition"
    csv_only = [args.definition, args.weights, args.variations, args.metrics]
    if not args.input and any(x is not None for x in csv_only):
        return "--definition, --weights, --variations and --metrics need --input"
    if args.phase is not None and not (args.experiment or args.input):
        return "--phase needs --experiment or --input"
    if args.phase is not None and args.phase < 0:
        return "--phase must be 0 or more"
    return None


def _stderr_log() -> logging.Handler:
    """Log lines of abflask on this call's stderr (as the cron mail shows them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("abflask")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see ``--help``.

    Nothing reaches stdout unless the whole run succeeded: the report is
    rendered to a string (JSON without NaN) and the CSV and HTML files are
    written first; a failure exits 1 with the error on stderr.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
        return int(exc.code or 0)
    problem = _usage_error(args)
    if problem:
        parser.print_usage(sys.stderr)
        print(f"analyze.py: {problem}", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()
    handler = _stderr_log()
    try:
        return _run(args, tty)
    finally:
        logging.getLogger("abflask").removeHandler(handler)


def _run(args: argparse.Namespace, tty: bool) -> int:
    try:
        settings = config.load()
        settings["REDIS_URL"] = localredis.resolve_url(
            settings, config.redis_url_is_set()
        )
        found = job.run(args, settings, tty)
        if found is None:
            return 0
        text = io.StringIO()
        report_text.emit(found, args.format, text)
        if args.csv:
            report_text.write_csv(found, args.csv)
        if args.html:
            from abflask.analysis import report_html

            report_html.write(found, args.html)
    except (AbflaskError, OSError, ValueError) as exc:
        logger.error("analysis failed: %s", exc)
        return 1
    sys.stdout.write(text.getvalue())
    sys.stdout.flush()
    return 0
