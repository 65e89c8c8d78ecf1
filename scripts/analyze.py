"""The cron analysis job: ``python scripts/analyze.py --help``.

All logic lives in ``abflask.analysis``; this file only sets the exit status.
"""

from __future__ import annotations

import sys

from abflask.analysis import main

if __name__ == "__main__":
    sys.exit(main())
