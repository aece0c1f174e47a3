"""The tap's summary of its run: records per stream, API calls, rate-limit use and status.

Written to ``summary_file`` when the sync ends, failed or not, for whatever reads the run's
results (the target of this project merges it into its run report). The ``pipeline`` key tells
a reader which run wrote it: the caller's ``MELTANO_RUN_ID`` when set, else the parent process
(``meltano run`` starts the tap, the mapper and the target; by hand, the shell does).
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import typing as t
from pathlib import Path


def pipeline_key() -> str:
    """``run:<MELTANO_RUN_ID>``, else ``ppid:<parent pid>:<its start time>`` (Linux; empty
    elsewhere), the same for every plugin of one pipeline.
    """
    run_id = os.environ.get("MELTANO_RUN_ID")
    if run_id:
        return f"run:{run_id}"
    ppid = os.getppid()
    started = ""
    try:
        # Field 22 of /proc/PID/stat: start time in clock ticks after boot.
        started = Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        pass
    return f"ppid:{ppid}:{started}"


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
        with self._lock:
            self.records[stream] = self.records.get(stream, 0) + count

    def add_call(self, stream: str) -> None:
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


def write_summary(path: str | None, summary: dict[str, t.Any]) -> None:
    """Replace ``path`` with the summary (nothing when no path is set)."""
    if not path:
        return
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(file.suffix + ".tmp")
    # Readable by its owner only, like every file of the project (README "When a run is killed").
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, file)
