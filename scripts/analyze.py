"""The cron analysis job: ``python scripts/analyze.py --help``.

All logic lives in ``abflask.analysis``; this file only sets the exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abflask.analysis import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
