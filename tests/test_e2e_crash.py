"""After a crash, and two runs at once: real `meltano run` and `meltano schedule run`, kill -9.

A run killed with SIGKILL (the whole process group, as a crash, the OOM killer or a deploy does)
leaves Meltano's job row RUNNING with a heartbeat Meltano trusts for 5 minutes, and the
plugins' config files, secrets included, in `.meltano/run/<plugin>/` (here the pipeline's own
system directory, `Pipeline.system_dir`). The schedule passes
`--force` (MELTANO_RUN_FORCE in its env) so its next run starts at once; the target's run lock
(a flock the kernel drops with the process) refuses a run while another is live instead.
End states are checked against the emulators' own data with `account_for_everything`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

from scripts.pipeline import (
    Pipeline,
    RunningJob,
    account_for_everything,
)

LIVE_RUN_MESSAGE = "Another run of this pipeline is still live in this project"
SECRETS = ("emulator-token", "emulator-secret", "emulator-refresh-token")


def run_dir(pipe: Pipeline) -> Path:
    """Meltano's run directory of the pipeline's system directory."""
    return pipe.system_dir / "run"


def config_files(pipe: Pipeline) -> set[Path]:
    """Meltano's per-invocation config files, of every plugin."""
    return set(run_dir(pipe).glob("*/*.config.json"))


def readable_by_others(pipe: Pipeline, *roots: Path) -> dict[str, str]:
    """Every file under `roots` that group or others may read, and every directory of Meltano's
    run directory they may enter, with its mode."""
    found = {}
    run = run_dir(pipe)
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if path.is_symlink() or (path.is_dir() and not path.is_relative_to(run)):
                continue
            if mode & 0o077:
                found[str(path)] = oct(mode)
    return found


def intercom_calls(pipe: Pipeline) -> int:
    return int(pipe.intercom.stats().get("api_calls", 0))


def wait_for(job: RunningJob, condition: Callable[[], bool], what: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert job.alive(), f"the run ended before {what}:\n{job.log.read_text()[-3000:]}"
        if condition():
            return
        time.sleep(0.05)
    job.kill_group()
    raise AssertionError(f"no {what} within {timeout} s")


def kill_mid_run(pipe: Pipeline) -> set[Path]:
    """Start a run, SIGKILL its process group mid-extraction; the config files it left."""
    before = config_files(pipe)
    job = pipe.start_run(schedule=True)
    wait_for(job, lambda: intercom_calls(pipe) >= 120, "120 Intercom calls")
    job.kill_group()
    return config_files(pipe) - before


def running_jobs(pipe: Pipeline) -> list[tuple[int, str]]:
    with sqlite3.connect(pipe.workdir / "meltano.db") as db:
        return list(db.execute("SELECT id, last_heartbeat_at FROM runs WHERE state = 'RUNNING'"))


def test_after_kill_9_the_scheduled_run_resumes_at_once_and_no_secret_is_left_behind(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    left = kill_mid_run(pipe)
    # What a kill leaves: one config file per plugin, readable by anyone, with the secrets.
    assert {p.parent.name for p in left} == {
        "tap-intercom-events",
        "map-intercom-salesforce",
        "target-salesforce-leads",
    }, left
    text = "".join(p.read_text() for p in left)
    assert all(secret in text for secret in SECRETS)
    assert len(running_jobs(pipe)) == 1, "the killed run's job should still look RUNNING"

    # Plain `meltano run` (no --force) is refused while the dead run's heartbeat is fresh.
    plain = pipe.run(check=False)
    assert plain.returncode != 0
    assert "is already running" in plain.output, plain.explain()

    # The schedule's run starts at once, resumes from the last saved state, and cleans up.
    scheduled = pipe.run(check=False, schedule=True)
    assert scheduled.returncode == 0, scheduled.explain()
    assert "Force option is enabled" in scheduled.output
    acc = account_for_everything(pipe)
    assert acc.ok(), acc.report()
    assert not any(p.exists() for p in left), "the killed run's config files are still there"
    assert config_files(pipe) == set()
    removed = [line for line in scheduled.output.splitlines() if "left with its secrets" in line]
    assert len(removed) == len(left), removed
    assert readable_by_others(pipe, run_dir(pipe), pipe.output, pipe.target_dir) == {}
    databases = (pipe.workdir / "meltano.db", pipe.workdir / "run-history.db")
    assert readable_by_others(pipe, *databases) == {}, "the state or the run history is readable"


def test_without_the_schedule_meltano_run_resumes_once_the_dead_heartbeat_is_5_minutes_old(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    left = kill_mid_run(pipe)
    refused = pipe.run(check=False)
    assert refused.returncode != 0 and "is already running" in refused.output
    # Waiting out Meltano's HEARTBEAT_VALID_MINUTES (5) is simulated, not slept: the dead
    # job's last heartbeat is moved 5 minutes and 1 second back in the test's system database,
    # exactly what 5 minutes without a heartbeat leave there.
    [(job_id, beat)] = running_jobs(pipe)
    old = dt.datetime.fromisoformat(beat) - dt.timedelta(minutes=5, seconds=1)
    with sqlite3.connect(pipe.workdir / "meltano.db") as db:
        db.execute(
            "UPDATE runs SET last_heartbeat_at = ? WHERE id = ?",
            (old.strftime("%Y-%m-%d %H:%M:%S.%f"), job_id),
        )
    resumed = pipe.run(check=False)
    assert resumed.returncode == 0, resumed.explain()
    assert running_jobs(pipe) == [], "Meltano did not mark the dead run failed"
    account_for_everything(pipe).check()
    assert not any(p.exists() for p in left)
    assert readable_by_others(pipe, run_dir(pipe), pipe.output, pipe.target_dir) == {}


def test_a_scheduled_run_started_while_one_is_live_is_refused_and_the_live_one_succeeds(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    # A slower Intercom (1,200 calls a minute: the tap paces itself), so the first run is still
    # reading when the second starts.
    pipe = make_pipeline(intercom_args=["--rate-limit-per-minute", "1200"])
    first = pipe.start_run(schedule=True, log=pipe.workdir / "first.log")
    wait_for(first, lambda: intercom_calls(pipe) >= 60, "60 Intercom calls")
    second = pipe.start_run(schedule=True, log=pipe.workdir / "second.log")
    code = second.proc.wait(timeout=300)
    assert first.alive(), "the first run ended before the second was refused"
    log = second.log.read_text()
    assert code != 0 and LIVE_RUN_MESSAGE in log, log[-3000:]
    assert first.proc.wait(timeout=600) == 0, first.log.read_text()[-3000:]
    account_for_everything(pipe).check()
    assert config_files(pipe) == set()


def test_two_scheduled_runs_started_together_one_runs_and_the_other_is_refused(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipe = make_pipeline()
    pipe.meltano("state", "list")  # the system database exists (as after any earlier run)
    jobs = [pipe.start_run(schedule=True, log=pipe.workdir / f"together-{i}.log") for i in (1, 2)]
    codes = [job.proc.wait(timeout=600) for job in jobs]
    logs = [job.log.read_text() for job in jobs]
    assert sorted(codes) == [0, 1], f"exit codes {codes}:\n" + "\n".join(x[-2000:] for x in logs)
    refused = logs[codes.index(1)]
    assert LIVE_RUN_MESSAGE in refused, refused[-3000:]
    account_for_everything(pipe).check()
    assert config_files(pipe) == set()
    again = pipe.run(check=False, schedule=True)
    assert again.returncode == 0, again.explain()
    assert again.salesforce_record_writes == {}
