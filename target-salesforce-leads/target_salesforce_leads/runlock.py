"""One run of a pipeline at a time: a lock the operating system drops when the process dies.

Meltano refuses a new `meltano run` while the last one's heartbeat is under 5 minutes old, which
also refuses the run after a crash (a killed run looks alive until then); `--force` skips that
check. This lock tells a live run from a dead one at once: the target holds an exclusive
``flock`` from its start to its exit, and the kernel releases it when the process ends in any
way, SIGKILL included. A second target that finds it held stops before it reads a message, so a
run started next to a live one writes nothing (no record, no state, no output file) whether or
not Meltano's own check ran.

The lock is one per extractor (``<state_path>.<extractor>.lock``; ``<state_path>.lock`` outside
Meltano): two runs of one extractor share its files in Meltano's run directory (state and
catalog), while pipelines of other extractors (the real-time one next to the batch job) may run
beside it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import typing as t
from pathlib import Path

# Exit code of a target that finds another run of the same project live.
EXIT_LIVE_RUN = 4


def lock_path(state_path: str | Path, environ: t.Mapping[str, str] = os.environ) -> Path:
    """The lock file of this run's pipeline: by the extractor Meltano names, next to the hashes."""
    extractor = environ.get("MELTANO_EXTRACTOR_NAME", "")
    suffix = f".{extractor}.lock" if extractor and "/" not in extractor else ".lock"
    return Path(f"{state_path}{suffix}")


class RunLockHeld(Exception):
    """Another live process holds the run lock."""

    def __init__(self, path: Path, holder: dict[str, t.Any]) -> None:
        self.path = path
        self.holder = holder
        super().__init__(describe_holder(path, holder))


def describe_holder(path: Path, holder: dict[str, t.Any]) -> str:
    """The paragraph a person reads when a run is refused."""
    who = (
        (
            f"process {holder.get('pid', '?')}, run {holder.get('run_id', '?')}, started "
            f"{holder.get('started_at', '?')}"
        )
        if holder
        else "another process"
    )
    return (
        f"Another run of this pipeline is still live in this project ({who}; it holds "
        f"{path}). This run stopped before writing anything: two runs at once would write "
        "the same records, state and files. Nothing is lost: the next run after that one "
        f"ends picks up where it left off. Exit code {EXIT_LIVE_RUN}."
    )


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``path``, held until :meth:`release` or exit."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, run_id: str) -> None:
        """Take the lock, or raise :class:`RunLockHeld` saying who holds it.

        The holder's pid, run id and start time are written into the file for that message;
        the lock itself is the ``flock``, never the file's content or existence.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockHeld(self.path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.fchmod(fd, 0o600)
        info = {
            "pid": os.getpid(),
            "run_id": run_id,
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race a process about to lock it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None


def _read_holder(fd: int) -> dict[str, t.Any]:
    try:
        doc = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
