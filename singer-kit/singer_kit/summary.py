"""The summary file a plugin leaves for the other plugins of its pipeline.

The tap and the mapper each write one; the target, which finishes last, merges them into its
run report. A reader tells this run's files from an earlier run's by their ``pipeline`` key.
Summaries, like every file of the project, are readable by their owner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import typing as t
from pathlib import Path


def pipeline_key() -> str:
    """What the plugins of one pipeline share.

    Returns:
        ``run:<MELTANO_RUN_ID>`` when the caller set it, else ``ppid:<parent pid>:<its start
        time>`` (``meltano run`` starts all three plugins; by hand, the shell does), told apart
        from an earlier process with the same pid by its start time (Linux; empty elsewhere).
    """
    run_id = os.environ.get("MELTANO_RUN_ID")
    if run_id:
        return f"run:{run_id}"
    ppid = os.getppid()
    started = ""
    with contextlib.suppress(OSError, IndexError):
        # Field 22 of /proc/PID/stat: start time in clock ticks after boot.
        started = Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return f"ppid:{ppid}:{started}"


def write_summary(path: str | os.PathLike[str] | None, summary: t.Mapping[str, t.Any]) -> None:
    """Replace the file at ``path`` with ``summary`` as JSON (nothing when no path is set).

    Atomic (a reader never sees half a file) and created readable by its owner only (mode
    0600, whatever the umask). Values JSON does not know are written as their text.

    Raises:
        OSError: The folder or the file could not be written.
    """
    if not path:
        return
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(file.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing temporary file keeps its mode through os.open
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, file)
