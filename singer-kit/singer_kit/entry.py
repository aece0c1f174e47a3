"""A plugin's console script: its command line, then a quick end of the process.

After a run that succeeded, Python's own end of the process (tearing down every module and
object of the Meltano SDK and its dependencies) took 0.2–0.3 s per plugin, measured on a busy
machine. In a pipeline that time is on the critical path three times over: the mapper sees the
end of its input only when the tap's process has ended, the target only when the mapper's has.

:func:`run_cli` runs the command line and, when it ends with exit code 0 and no other
(non-daemon) thread still runs, does what Python's end does that matters (the ``atexit``
functions, among them the logging shutdown that flushes and closes every handler; standard
output and error flushed) and leaves with ``os._exit(0)``. Every other ending (an error, an
exit code other than 0, a thread still running) is Python's usual one. A plugin that succeeded
has closed its files itself; nothing of its output is left in a buffer.

Only for the console script: a test that runs the command in process (click's ``CliRunner``)
calls the command itself and keeps its interpreter.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable


def run_cli(command: Callable[[], object]) -> t.NoReturn:
    """Run ``command`` (a click command, e.g. ``Tap.cli``), then end the process."""
    try:
        command()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if code in (0, None) and not _other_threads():
        _end_now()
    sys.exit(code)


def _other_threads() -> bool:
    current = threading.current_thread()
    return any(
        th is not current and th.is_alive() and not th.daemon for th in threading.enumerate()
    )


def _end_now() -> None:
    """End with exit code 0 without tearing the interpreter down (returns if that fails)."""
    try:
        sys.stdout.flush()  # the consumer's input first
    except (OSError, ValueError):
        return  # a closed pipe: let Python report it as it does
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            return
    os._exit(0)
