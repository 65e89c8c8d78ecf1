"""``python -m abflask.analysis``: the analysis job (see ``--help``)."""

from __future__ import annotations

import sys

from abflask.analysis.cli import main

sys.exit(main())
