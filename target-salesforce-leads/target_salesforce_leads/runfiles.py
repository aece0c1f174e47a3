"""No secrets left behind: Meltano's per-invocation files private, those of dead invocations gone.

Before it starts a plugin, Meltano writes the plugin's whole configuration, secrets included, to
``.meltano/run/<plugin>/<kind>.<uuid>.config.json`` (mode 0644 under the usual umask) and deletes
it when the plugin ends. A run killed with SIGKILL never deletes them. At the start of every run
the target (the plugin that lives for the whole run) makes Meltano's run directory private
(directories 0700, files 0600) and removes the configuration files no live invocation can still
need, of every plugin in the project, not only its own. Meltano's SQLite system database, which
holds the state (waiting records included), is made 0600 too.

A file is kept while it may be live: while a running process names it on its command line (a
plugin started with ``--config FILE``), or while a Meltano process runs in the project's
directory that started before the file was written (it may be the writer, about to start that
plugin) — other than the Meltano that started this target: it starts the loader last, so the files
it wrote for this run are all named on live command lines by now, and the files of a run killed
just before it are not taken for its own. Only files with neither,
which can only be those of invocations that ended without their clean-up, are removed. This reads
``/proc``; where there is none, nothing is removed (the directory is still made private).
"""

from __future__ import annotations

import logging
import os
import stat
import typing as t
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# /proc gives process start times to the second only (the boot time is whole seconds).
START_SLACK_SECONDS = 2.0


@dataclass(frozen=True)
class Process:
    """A process as the process table shows it."""

    pid: int
    ppid: int
    argv: tuple[str, ...]
    started_at: float  # epoch seconds
    cwd: str | None  # None when it cannot be read (another user's process)


def running_processes(proc: Path = PROC) -> list[Process] | None:
    """Every process this one can see, or None where there is no ``/proc``."""
    try:
        boot = next(
            float(line.split()[1])
            for line in (proc / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    found: list[Process] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = tuple(
                a.decode(errors="replace")
                for a in (entry / "cmdline").read_bytes().split(b"\0")
                if a
            )
            # Field 22 of stat, counted after the command name (which may hold spaces).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            started = boot + int(fields[19]) / ticks
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile, or not ours to read
        try:
            cwd: str | None = os.readlink(entry / "cwd")
        except OSError:
            cwd = None
        found.append(Process(int(entry.name), int(fields[1]), argv, started, cwd))
    return found


def is_meltano(process: Process) -> bool:
    """A Meltano CLI process (`meltano ...`, `python .../bin/meltano ...`, `-m meltano`)."""
    head = process.argv[:3]
    return any(Path(a).name == "meltano" for a in head) or ("-m" in head and "meltano" in head)


def _may_serve(process: Process, project: str) -> bool:
    """Whether a Meltano process may be this project's.

    It runs in the project's directory (or below it), or its directory cannot be read.
    """
    if process.cwd is None:
        return True
    return process.cwd == project or process.cwd.startswith(project + os.sep)


def ancestors(processes: list[Process], pid: int) -> frozenset[int]:
    """The process ``pid`` and the processes that started it, up to the first not in the list."""
    parent = {p.pid: p.ppid for p in processes}
    found: set[int] = set()
    while pid not in found:
        found.add(pid)
        if pid not in parent:
            break
        pid = parent[pid]
    return frozenset(found)


def stale_config_files(
    run_dir: Path, processes: list[Process], own: frozenset[int] = frozenset()
) -> list[Path]:
    """The ``*.config.json`` files under ``run_dir/<plugin>/`` that no live invocation needs.

    ``own`` are this process and its ancestors: their Meltano is not counted as a possible writer.
    """
    # Meltano names each file by a fresh UUID, so the name alone identifies an invocation.
    named = {Path(arg).name for p in processes for arg in p.argv if arg.endswith(".config.json")}
    project = os.path.realpath(run_dir.parent.parent)
    meltano_starts = [
        p.started_at
        for p in processes
        if is_meltano(p) and _may_serve(p, project) and p.pid not in own
    ]
    stale: list[Path] = []
    for path in sorted(run_dir.glob("*/*.config.json")):
        try:
            written = path.stat().st_mtime
        except OSError:
            continue
        if path.name in named:
            continue
        if any(start <= written + START_SLACK_SECONDS for start in meltano_starts):
            continue
        stale.append(path)
    return stale


def make_private(paths: Iterable[Path], dirs: Iterable[Path] = ()) -> None:
    """Chmod 0600 the existing regular files among ``paths``, 0700 the existing ``dirs``."""
    for path, mode in [*((d, 0o700) for d in dirs), *((p, 0o600) for p in paths)]:
        try:
            info = path.lstat()
            want_dir = mode == 0o700
            if (
                stat.S_ISDIR(info.st_mode) if want_dir else stat.S_ISREG(info.st_mode)
            ) and stat.S_IMODE(info.st_mode) != mode:
                path.chmod(mode)
        except OSError:
            continue  # gone meanwhile, or owned by someone else


def secure_run_dir(run_dir: Path, processes: list[Process] | None = None) -> list[Path]:
    """Make Meltano's run directory private and remove dead invocations' config files.

    Returns the files removed. ``processes`` defaults to :func:`running_processes`.
    """
    if not run_dir.is_dir():
        return []
    dirs = [run_dir, *(d for d in run_dir.iterdir() if d.is_dir() and not d.is_symlink())]
    files = [f for d in dirs for f in d.iterdir() if not f.is_dir()]
    make_private(files, dirs)
    if processes is None:
        processes = running_processes()
    if processes is None:
        return []
    removed: list[Path] = []
    for path in stale_config_files(run_dir, processes, ancestors(processes, os.getpid())):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            continue
    return removed


def meltano_run_dir(environ: t.Mapping[str, str] = os.environ) -> Path | None:
    """``$MELTANO_SYS_DIR_ROOT/run`` when Meltano started this process, else None."""
    root = environ.get("MELTANO_SYS_DIR_ROOT")
    return Path(root) / "run" if root else None


def meltano_system_db_files(environ: t.Mapping[str, str] = os.environ) -> list[Path]:
    """Meltano's SQLite system database and its journal files.

    Meltano's SQLite system database (it holds the state) and its journal files, when Meltano named
    one in ``MELTANO_DATABASE_URI``.
    """
    uri = environ.get("MELTANO_DATABASE_URI", "")
    if not uri.startswith("sqlite:///"):
        return []
    db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    return [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))]


def secure_files(report: t.Any, hashes: Path, describe: Path, logger: logging.Logger) -> None:
    """Make this run's files private; remove secrets killed runs left behind.

    Make private what earlier runs or versions left readable (the ``report``'s files, the hash store
    ``hashes`` and the ``describe`` cache); remove the config files, secrets included, that killed
    runs left in Meltano's run directory.
    """
    mine = [
        p
        for p in (
            report.reject_path,
            report.summary_path,
            report.waiting_path,
            report.problems_path,
        )
        if p
    ]
    make_private(
        [
            *mine,
            *hashes.parent.glob(hashes.name + "*"),
            *describe.glob("*"),
            *meltano_system_db_files(),
        ],
        [describe],
    )
    run_dir = meltano_run_dir()
    if run_dir is not None:
        for path in secure_run_dir(run_dir):
            logger.info("Removed %s, left with its secrets by a run that was killed.", path)
