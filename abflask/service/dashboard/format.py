"""The dashboard's Jinja filters: ``abflask.core.render.format`` under short names.

Numbers and words on the dashboard read exactly as in the job's reports:
one format, in core.
"""

from __future__ import annotations

from collections.abc import Callable

from abflask.core.render import format as fmt

FILTERS: dict[str, Callable[..., str]] = {
    "count": fmt.count,
    "percent": fmt.percent,
    "when": fmt.when,
    "iso": fmt.iso,
    "weights": fmt.weights,
    "decision_words": lambda v: fmt.words(v, fmt.DECISIONS),
    "status_words": lambda v: fmt.words(v, fmt.STATUSES),
}
"""The filters the templates use, registered on the blueprint."""
