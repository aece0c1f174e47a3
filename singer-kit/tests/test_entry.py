"""The console-script entry: after a run that succeeded the process ends at once, with every
line written and the atexit functions run; every other ending is Python's usual one. Real
processes, since the point is how a process ends.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = """
import atexit, logging, sys, threading, time
from singer_kit.entry import run_cli

class Teardown:
    def __del__(self):
        sys.stderr.write("torn down\\n")

KEEP = Teardown()  # a module global: Python's own end deletes it, a quick end does not

def command():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
    sys.stdout.write("x" * 200_000 + "\\nlast line\\n")  # more than a pipe holds
    logging.getLogger("t").info("logged")
    {body}
"""


def run(body: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(SCRIPT).format(body=body) + "\nrun_cli(command)\n"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_run_that_succeeded_ends_at_once_with_its_output_complete() -> None:
    proc = run("pass")
    assert proc.returncode == 0
    assert proc.stdout.endswith("\nlast line\n")
    assert len(proc.stdout) == 200_000 + len("\nlast line\n")
    assert "logged" in proc.stderr
    assert "atexit ran" in proc.stderr
    assert "torn down" not in proc.stderr  # no teardown of the interpreter


def test_an_error_exit_is_pythons_own() -> None:
    proc = run("sys.exit(3)")
    assert proc.returncode == 3
    assert proc.stdout.endswith("\nlast line\n")
    assert "atexit ran" in proc.stderr
    assert "torn down" in proc.stderr


def test_a_thread_still_running_is_waited_for() -> None:
    proc = run(
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True)))"
        ".start()"
    )
    assert proc.returncode == 0
    assert proc.stdout.endswith("thread done\n")
    assert "torn down" in proc.stderr
