"""The tap's summary of its run: records per stream, API calls, rate-limit use and status.

Written to ``summary_file`` when the sync ends, failed or not, for whatever reads the run's
results (the target of this project merges it into its run report), by
:func:`singer_kit.summary.write_summary`; its ``pipeline`` key tells a reader which run wrote it.
"""

from __future__ import annotations

import datetime
import threading
import typing as t

from singer_kit.summary import pipeline_key


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class SyncSummary:
    """Counts records and API calls per stream, thread safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_at = _now()
        self.records: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    def add_records(self, stream: str, count: int = 1) -> None:
        """Count ``count`` records of ``stream``."""
        with self._lock:
            self.records[stream] = self.records.get(stream, 0) + count

    def add_call(self, stream: str) -> None:
        """Count one API call of ``stream``."""
        with self._lock:
            self.calls[stream] = self.calls.get(stream, 0) + 1

    def as_dict(
        self, governor_stats: dict[str, t.Any], share: float, error: BaseException | None
    ) -> dict[str, t.Any]:
        """The summary; ``error`` is what ended the sync, if anything did."""
        names = list(dict.fromkeys([*self.records, *self.calls]))
        return {
            "name": "tap-intercom-events",
            "api": "Intercom",
            "pipeline": pipeline_key(),
            "started_at": self.started_at,
            "finished_at": _now(),
            "status": "failed" if error is not None else "ok",
            "error": _one_line(error) if error is not None else None,
            "api_calls": governor_stats.get("requests", 0),
            "throttled": governor_stats.get("throttled", 0),
            "rate_limit": {
                "share_allowed": share,
                "window_limit": governor_stats.get("window_limit"),
                "peak_share_used": governor_stats.get("peak_share_used"),
                "waited_seconds": governor_stats.get("waited_seconds"),
            },
            "streams": {
                n: {"records": self.records.get(n, 0), "api_calls": self.calls.get(n, 0)}
                for n in names
            },
        }


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:299] + "…"
