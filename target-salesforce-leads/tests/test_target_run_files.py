"""One run at a time (a lock that dies with its process) and no secrets left behind.

Real processes throughout: the lock is held by another interpreter and killed with SIGKILL,
Meltano's run directory is a real one with a real process naming a config file on its command
line, and the target runs as its CLI against the Salesforce emulator.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from target_salesforce_leads.runfiles import (
    Process,
    ancestors,
    running_processes,
    secure_run_dir,
    stale_config_files,
)
from target_salesforce_leads.runlock import EXIT_LIVE_RUN

from .target_sf_testlib import Harness, lead, lead_messages

HOLD_LOCK = (
    "import sys, time\n"
    "from target_salesforce_leads.runlock import RunLock\n"
    "RunLock(sys.argv[1]).acquire('holder-run')\n"
    "print('locked', flush=True)\n"
    "time.sleep(600)\n"
)


def files(folder: Path) -> dict[str, str]:
    """The waiting and problems files in the test's folder (not the default output/)."""
    return {
        "waiting_file": str(folder / "waiting.jsonl"),
        "problems_file": str(folder / "problems.jsonl"),
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def hold_lock(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_run_next_to_a_live_one_writes_nothing_and_runs_once_that_one_is_killed(
    harness: Harness, tmp_path: Path
) -> None:
    holder = hold_lock(tmp_path / "hashes.sqlite.lock")
    try:
        refused = harness.run(lead_messages([lead(1), lead(2)], {"bookmark": 1}), **files(tmp_path))
        assert refused.returncode == EXIT_LIVE_RUN, refused.stderr
        assert "Another run of this pipeline is still live" in refused.stderr
        assert f"process {holder.pid}, run holder-run" in refused.stderr
        assert refused.states == [] and refused.summary == {}
        assert harness.query("SELECT Id FROM Lead") == []
        assert harness.api_calls() == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # The kernel dropped the dead holder's lock: no timeout, no file to remove by hand.
    after = harness.run(lead_messages([lead(1), lead(2)], {"bookmark": 1}), **files(tmp_path))
    assert after.returncode == 0, after.stderr
    assert after.states == [{"bookmark": 1}]
    assert len(harness.query("SELECT Id FROM Lead")) == 2


def test_the_lock_is_per_extractor_so_another_pipeline_runs_beside_a_live_one(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = hold_lock(tmp_path / "hashes.sqlite.tap-intercom-events.lock")
    try:
        monkeypatch.setenv("MELTANO_EXTRACTOR_NAME", "tap-intercom-realtime")
        beside = harness.run(lead_messages([lead(1)], {"b": 1}), **files(tmp_path))
        assert beside.returncode == 0, beside.stderr
        monkeypatch.setenv("MELTANO_EXTRACTOR_NAME", "tap-intercom-events")
        same = harness.run(lead_messages([lead(2)], {"b": 2}), **files(tmp_path))
        assert same.returncode == EXIT_LIVE_RUN, same.stderr
        assert len(harness.query("SELECT Id FROM Lead")) == 1
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_the_files_a_run_writes_are_readable_by_their_owner_only(
    harness: Harness, tmp_path: Path
) -> None:
    old_rejects = tmp_path / "rejects.jsonl"
    old_rejects.write_text("")
    old_rejects.chmod(0o644)  # as an earlier version left it
    run = harness.run(
        lead_messages([lead(1), lead("bad", Email="not an email")], {"b": 1}),
        **files(tmp_path / "out"),
    )
    assert run.returncode == 0, run.stderr
    written = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file()
        and not p.name.startswith("config-")
        and "sf" not in p.relative_to(tmp_path).parts
    ]
    assert {p.name for p in written} >= {
        "rejects.jsonl",
        "hashes.sqlite",
        "summary-1.json",
        "waiting.jsonl",
        "problems.jsonl",
        "hashes.sqlite.lock",
    }
    readable = {str(p.relative_to(tmp_path)): oct(mode(p)) for p in written if mode(p) & 0o077}
    assert readable == {}
    assert mode(tmp_path / "out") == 0o700


def _config(run_dir: Path, plugin: str, name: str, age: float = 0.0) -> Path:
    path = run_dir / plugin / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"client_secret": "s3cret"}')
    path.chmod(0o644)
    if age:
        when = time.time() - age
        os.utime(path, (when, when))
    return path


def test_config_files_of_dead_invocations_go_and_live_ones_stay(tmp_path: Path) -> None:
    run_dir = tmp_path / ".meltano" / "run"
    dead = _config(run_dir, "target-salesforce-leads", "target.0190-dead.config.json", age=60)
    dead_tap = _config(run_dir, "tap-intercom-events", "tap.0190-dead.config.json", age=60)
    named = _config(run_dir, "tap-intercom-events", "tap.0190-live.config.json", age=60)
    catalog = run_dir / "tap-intercom-events" / "tap.properties.json"
    catalog.write_text("{}")
    catalog.chmod(0o644)
    # A live plugin started with --config: its file stays, however old.
    plugin = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "--config", str(named)]
    )
    # A live Meltano of this project (any executable called meltano, in the project's
    # directory) started before a file was written may be about to start that file's plugin:
    # the file stays. Meltano processes of other projects (this machine's) do not count.
    fake = tmp_path / "bin" / "meltano"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(600)\n")
    fake.chmod(0o755)
    meltano = subprocess.Popen([str(fake), "run", "job"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = running_processes() or []
            if {plugin.pid, meltano.pid} <= {p.pid for p in seen}:
                break
            time.sleep(0.05)
        time.sleep(2.5)  # past the start-time slack (/proc's boot time is whole seconds)
        fresh = _config(run_dir, "map-intercom-salesforce", "mapper.0190-new.config.json")
        removed = secure_run_dir(run_dir)
    finally:
        for proc in (plugin, meltano):
            proc.kill()
            proc.wait(timeout=30)
    assert sorted(removed) == sorted([dead, dead_tap])
    assert not dead.exists() and not dead_tap.exists()
    assert named.exists() and fresh.exists()
    for path in (named, fresh, catalog):
        assert mode(path) == 0o600, path
    for d in (run_dir, *(p for p in run_dir.iterdir())):
        assert mode(d) == 0o700, d
    # Once both have ended, their files are those of dead invocations too.
    assert sorted(secure_run_dir(run_dir)) == sorted([named, fresh])


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads /proc")
def test_a_target_started_by_meltano_removes_what_a_killed_run_left(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys_dir = tmp_path / "project" / ".meltano"
    left = _config(
        sys_dir / "run", "target-salesforce-leads", "target.0190-kill.config.json", age=120
    )
    system_db = sys_dir / "meltano.db"
    system_db.write_bytes(b"")
    system_db.chmod(0o644)
    monkeypatch.setenv("MELTANO_SYS_DIR_ROOT", str(sys_dir))
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{system_db}")
    run = harness.run(lead_messages([lead(1)], {"bookmark": 1}), **files(tmp_path))
    assert run.returncode == 0, run.stderr
    assert mode(system_db) == 0o600
    assert mode(sys_dir / "run") == mode(left.parent) == 0o700
    assert not left.exists()
    assert f"Removed {left}, left with its secrets by a run that was killed." in run.stderr


def test_a_killed_runs_file_is_stale_even_when_this_runs_meltano_started_a_second_later(
    tmp_path: Path,
) -> None:
    """A run started within the start-time slack of a killed one still removes its files."""
    project = tmp_path / "project"
    folder = project / ".meltano" / "run" / "tap-intercom-events"
    folder.mkdir(parents=True)
    left = folder / "tap.0001.config.json"
    left.write_text("{}")
    written = left.stat().st_mtime
    meltano = Process(100, 1, ("meltano", "run", "job"), written + 1.0, str(project))
    target = Process(200, 100, ("target-salesforce-leads", "--config", "x.config.json"), 0, None)
    processes = [meltano, target]
    run_dir = project / ".meltano" / "run"
    # Another Meltano that started a second after the file was written may be its writer ...
    assert stale_config_files(run_dir, processes) == []
    # ... but not the one that started this target: it wrote nothing not yet on a command line.
    own = ancestors(processes, 200)
    assert own == {100, 200, 1}
    assert stale_config_files(run_dir, processes, own) == [left]
