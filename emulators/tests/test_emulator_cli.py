"""The `emulator` dispatcher."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulators", *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_both_emulators() -> None:
    out = run("--help")
    assert out.returncode == 0
    assert "emulator salesforce" in out.stdout and "emulator intercom" in out.stdout


def test_unknown_emulator_is_an_error_that_says_what_to_do() -> None:
    out = run("hubspot")
    assert out.returncode == 2
    assert "choose 'salesforce' or 'intercom'" in out.stderr
