"""The mapper's summary of its run: records in and out, rejects by reason with an example.

For whatever reads the run's results (this project's target merges it into its run report).

Written by :func:`singer_kit.summary.write_summary`; its ``pipeline`` key tells a reader which
run wrote it.
"""

from __future__ import annotations

import datetime as dt


def now_iso() -> str:
    """Now in UTC, to the second, in ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
