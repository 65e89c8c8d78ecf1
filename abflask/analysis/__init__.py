"""The analysis job run from cron: event logs → statistics → reports.

``main(argv) -> int`` is the command line (``scripts/analyze.py`` wraps it).
May import ``core``, ``storage``, ``config``, ``errors``, pandas, numpy and
scipy; never Flask or the ``service`` and ``sdk`` packages.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the analysis command line; returns the exit status (see ``cli``).

    Imported on call, so that ``import abflask.analysis.moments`` stays light.
    """
    from abflask.analysis.cli import main as run

    return run(argv)
