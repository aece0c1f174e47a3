"""The mapper's summary of its run, for whatever reads the run's results (this project's target
merges it into its run report): records in and out, rejects by reason with an example, status.

The ``pipeline`` key tells a reader which run wrote it: the caller's ``MELTANO_RUN_ID`` when set,
else the parent process (``meltano run`` starts the tap, the mapper and the target; by hand, the
shell does), with its start time where the system tells it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import typing as t
from pathlib import Path


def pipeline_key() -> str:
    """``run:<MELTANO_RUN_ID>``, else ``ppid:<parent pid>:<its start time>`` (Linux; empty
    elsewhere): the same for every plugin of one pipeline.
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


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_summary(path: str | None, summary: dict[str, t.Any]) -> None:
    """Replace ``path`` with the summary as JSON (nothing when no path is set)."""
    if not path:
        return
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(file.suffix + ".tmp")
    # Readable by its owner only, like every file of the project (README "When a run is killed").
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, file)
