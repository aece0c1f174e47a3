"""Run the Meltano project against local emulators: shared by `make demo` and the end-to-end tests.

A `Pipeline` owns one Intercom emulator, one Salesforce emulator, a Meltano system database and an
output folder, and runs `meltano run intercom-to-salesforce` with every setting that differs from
the `dev` environment passed as the plugins' own environment variables (Meltano lets those override
`meltano.yml`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(Path(sys.executable).with_name("meltano"))
JOB = "intercom-to-salesforce"
# meltano.yml's schedule of JOB: `meltano schedule run SCHEDULE` is what a scheduler runs.
SCHEDULE = "intercom-to-salesforce-every-15-minutes"
WRITE_ONLY_ENDPOINTS = ("PATCH", "PUT", "DELETE", "POST /sobjects", "POST /jobs")
TARGET_STATE_KEY = "target-salesforce-leads"
# The long-lived real-time job (README, "Real time") and the receiver that fills its inbox.
REALTIME_JOB = "intercom-realtime-to-salesforce"
RECEIVER = "intercom-webhook-receiver"
# The client secret of the emulator's webhook subscription and of the receiver (a test value).
WEBHOOK_SECRET = "e2e-webhook-client-secret"
WEBHOOK_TOPICS = [
    "contact.lead.created",
    "contact.user.created",
    "contact.lead.updated",
    "contact.user.updated",
    "conversation.user.created",
    "conversation.user.replied",
]
# Directories of a Meltano system directory that belong to one pipeline (the rest, the plugins'
# installs, are the project's `.meltano/`, shared: see `Pipeline.system_dir`).
OWN_SYSTEM_DIRS = {"run", "logs"}
# The Intercom emulator's default of 10,000 calls a minute would make the tap wait most of a big
# run; the tap paces itself by the rate-limit headers either way.
FAST_INTERCOM_ARGS = ["--rate-limit-per-minute", "60000"]


def seed_intercom_template(
    data_dir: Path, contacts: int, conversations: int, seed: int, **extra: int
) -> dict[str, Any]:
    """Seed an Intercom emulator data directory once, to be copied into many pipelines.

    Runs the emulator's own `seed` command on a directory no server serves yet; `Pipeline(...,
    intercom_template=data_dir)` copies it, so each test starts from the same pristine workspace.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    args = ["--contacts", str(contacts), "--conversations", str(conversations), "--seed", str(seed)]
    for name, value in extra.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    out = subprocess.run(
        [sys.executable, "-m", "emulators", "intercom", "seed", "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def meltano_install(env: dict[str, str] | None = None) -> None:
    """Install the three plugins into .meltano/ (editable installs of this repo, with uv).

    Then compile their bytecode (:func:`compile_plugin_bytecode`).
    """
    run_env = {**os.environ, **(env or {})}
    subprocess.run(
        [MELTANO, "install"],
        cwd=ROOT,
        env=run_env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    compile_plugin_bytecode()


def meltano_install_once(shared_dir: Path) -> None:
    """`meltano_install` once for all the processes that share `shared_dir`.

    pytest-xdist's workers of one test run share their temporary folders' parent: the first
    one installs, the others wait for it, then skip.
    """
    shared_dir.mkdir(parents=True, exist_ok=True)
    done = shared_dir / "meltano-install.done"
    with (shared_dir / "meltano-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            meltano_install()
            done.touch()


def compile_plugin_bytecode() -> None:
    """Write the ``.pyc`` files of the plugins' environments and of this repo's packages once.

    At install time.

    uv installs without bytecode, and where ``PYTHONDONTWRITEBYTECODE`` is set (or the install
    is read-only) Python never writes it either: every run then compiles the Meltano SDK and
    its dependencies again, in each of the three plugins (about 1 s of CPU each here). Files
    already compiled are skipped, so this is quick after the first time.
    """
    trees = sorted(str(p) for p in (ROOT / ".meltano").glob("*/*/venv/lib"))
    trees += [
        str(ROOT / path)
        for path in (
            "tap-intercom-events/tap_intercom_events",
            "transform/mapper_intercom_salesforce",
            "target-salesforce-leads/target_salesforce_leads",
        )
        if (ROOT / path).is_dir()
    ]
    if trees:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", *trees],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class RunResult:
    """What one `meltano run` did."""

    returncode: int
    stdout: str
    stderr: str
    summary: dict[str, Any] = field(default_factory=dict)
    intercom_calls: int = 0
    salesforce_calls: int = 0
    salesforce_by_endpoint: dict[str, int] = field(default_factory=dict)
    # Records the Salesforce emulator really created/updated/deleted, whatever API carried them.
    salesforce_record_writes: dict[str, int] = field(default_factory=dict)
    intercom_by_endpoint: dict[str, int] = field(default_factory=dict)
    intercom_status_counts: dict[str, int] = field(default_factory=dict)

    @property
    def output(self) -> str:
        """Both streams of Meltano's output, for assertions on messages."""
        return self.stdout + self.stderr

    def explain(self) -> str:
        """What to show when an assertion about this run fails."""
        keys = ("status", "exit_code", "streams", "waiting", "rejected_by_reason", "halted")
        brief = {k: self.summary.get(k) for k in keys if k in self.summary}
        log = "\n".join(line for line in self.stderr.splitlines() if "METRIC" not in line)
        return (
            f"exit {self.returncode}; summary {json.dumps(brief, default=str)[:3000]}; "
            f"record writes {self.salesforce_record_writes}\n{log[-6000:]}"
        )

    def written(self, sobject: str | None = None) -> int:
        """Records the Salesforce emulator created or updated in this run (of one sObject)."""
        return sum(
            n
            for key, n in self.salesforce_record_writes.items()
            if not key.endswith("deleted") and (sobject is None or key.split()[0] == sobject)
        )

    @property
    def salesforce_write_calls(self) -> int:
        """Calls to endpoints that only write (a Composite call may be reads only: not counted)."""
        return sum(
            n
            for endpoint, n in self.salesforce_by_endpoint.items()
            if endpoint.startswith(WRITE_ONLY_ENDPOINTS) and "oauth2" not in endpoint
        )


class Pipeline:
    """Both emulators plus an isolated Meltano state database and output folder."""

    def __init__(
        self,
        workdir: Path,
        intercom_args: list[str] | None = None,
        salesforce_args: list[str] | None = None,
        intercom_template: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.output = self.workdir / "output"
        self.intercom_template = intercom_template
        self.intercom = EmulatorProcess("intercom", self.workdir / "intercom", intercom_args or [])
        self.salesforce = EmulatorProcess(
            "salesforce", self.workdir / "salesforce", salesforce_args or []
        )
        # More Salesforce orgs started by `add_salesforce` (stopped with the pipeline).
        self.other_orgs: list[EmulatorProcess] = []
        self.environment = "dev"
        self.extra_env: dict[str, str] = {}
        # Receivers and real-time jobs started here: their process groups end with the pipeline.
        self.children: list[ReceiverJob | RunningJob] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Pipeline:
        """Create the folders and start both emulators; itself."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(parents=True, exist_ok=True)
        self._link_installed_plugins()
        if self.intercom_template is not None and not self.intercom.data_dir.exists():
            shutil.copytree(self.intercom_template, self.intercom.data_dir)
        self.intercom.start()
        self.salesforce.start()
        return self

    def stop(self) -> None:
        """Kill the runs started here and stop the emulators."""
        for child in self.children:
            child.kill_group()
        self.intercom.stop()
        self.salesforce.stop()
        for org in self.other_orgs:
            org.stop()

    def add_salesforce(self, name: str, args: list[str] | None = None) -> EmulatorProcess:
        """Start another, empty Salesforce org (its own data dir); `use_salesforce` points at it."""
        org = EmulatorProcess("salesforce", self.workdir / name, args or [])
        org.start()
        self.other_orgs.append(org)
        return org

    def use_salesforce(self, org: EmulatorProcess) -> None:
        """Point the target (and `soql`, stats) at another Salesforce org from now on."""
        if self.salesforce not in self.other_orgs:
            self.other_orgs.append(self.salesforce)
        if org in self.other_orgs:
            self.other_orgs.remove(org)
        self.salesforce = org

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def system_dir(self) -> Path:
        """This pipeline's Meltano system directory (MELTANO_SYS_DIR_ROOT).

        Its own `run/` (the plugins' per-invocation config, catalog and state files) and
        `logs/`, so that pipelines running at once (parallel tests) never read each other's
        files; the plugins' installs are links to the project's `.meltano/`. Meltano runs in
        `workdir` (the system directory's parent, as `.meltano/` is the project's), with
        MELTANO_PROJECT_ROOT naming the project.
        """
        return self.workdir / ".meltano"

    def _link_installed_plugins(self) -> None:
        self.system_dir.mkdir(parents=True, exist_ok=True)
        shared = ROOT / ".meltano"
        for entry in sorted(shared.iterdir()) if shared.is_dir() else []:
            link = self.system_dir / entry.name
            if entry.is_dir() and entry.name not in OWN_SYSTEM_DIRS and not link.exists():
                link.symlink_to(entry, target_is_directory=True)

    # -- paths -----------------------------------------------------------------------------
    @property
    def mapper_rejects(self) -> Path:
        """The mapper's reject file."""
        return self.output / "rejects" / "map-intercom-salesforce.jsonl"

    @property
    def target_rejects(self) -> Path:
        """The target's reject file."""
        return self.output / "rejects" / "target-salesforce-leads.jsonl"

    @property
    def target_summary(self) -> Path:
        """The target's run summary."""
        return self.output / "target-salesforce-leads-summary.json"

    @property
    def run_report(self) -> Path:
        """The run report."""
        return self.output / "run-report.json"

    @property
    def tap_summary(self) -> Path:
        """The tap's run summary."""
        return self.output / "tap-intercom-events-summary.json"

    @property
    def mapper_summary(self) -> Path:
        """The mapper's run summary."""
        return self.output / "map-intercom-salesforce-summary.json"

    @property
    def waiting_file(self) -> Path:
        """The target's waiting file."""
        return self.output / "waiting" / "target-salesforce-leads.jsonl"

    @property
    def problems_file(self) -> Path:
        """The target's open-problems file."""
        return self.output / "problems" / "target-salesforce-leads.jsonl"

    @property
    def realtime_summary(self) -> Path:
        """The real-time target's run summary."""
        return self.output / "target-salesforce-realtime-summary.json"

    @property
    def realtime_tap_summary(self) -> Path:
        """The real-time tap's run summary."""
        return self.output / "tap-intercom-realtime-summary.json"

    @property
    def inbox_url(self) -> str:
        """The receiver's inbox, read by the real-time job."""
        return f"sqlite:///{self.workdir / 'inbox' / 'inbox.db'}"

    @property
    def target_dir(self) -> Path:
        """The target's local files: its hash store and, next to it, its describe cache."""
        return self.workdir / "target-local"

    @property
    def target_hashes(self) -> Path:
        """The target's hash store."""
        return self.target_dir / "hashes.sqlite"

    # -- meltano ---------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment for Meltano: points the dev environment at this pipeline's emulators."""
        sf, ic = self.salesforce, self.intercom
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": self.environment,
            "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_INTERCOM_EVENTS_API_URL": ic.url,
            "TARGET_SALESFORCE_LEADS_LOGIN_URL": sf.url,
            "TARGET_SALESFORCE_LEADS_INSTANCE_URL": sf.url,
            "TARGET_SALESFORCE_LEADS_CA_BUNDLE": str(sf.ca_path),
            "TARGET_SALESFORCE_LEADS_REJECT_FILE": str(self.target_rejects),
            "TARGET_SALESFORCE_LEADS_SUMMARY_FILE": str(self.target_summary),
            "TARGET_SALESFORCE_LEADS_WAITING_FILE": str(self.waiting_file),
            "TARGET_SALESFORCE_LEADS_PROBLEMS_FILE": str(self.problems_file),
            "TARGET_SALESFORCE_LEADS_STATE_PATH": str(self.target_hashes),
            "TARGET_SALESFORCE_LEADS_RUN_REPORT_FILE": str(self.run_report),
            "TAP_INTERCOM_EVENTS_SUMMARY_FILE": str(self.tap_summary),
            "TARGET_SALESFORCE_LEADS_TAP_SUMMARY_FILE": str(self.tap_summary),
            "MAPPER_SUMMARY_FILE": str(self.mapper_summary),
            "TARGET_SALESFORCE_LEADS_MAPPER_SUMMARY_FILE": str(self.mapper_summary),
            "MAPPER_REJECT_FILE": str(self.mapper_rejects),
            "MAPPER_PROBLEMS_FILE": str(self.output / "problems" / "map-intercom-salesforce.jsonl"),
        }
        # The real-time job's own plugins: their settings in meltano.yml win over the batch
        # plugins' variables above, so their per-pipeline paths are set by their own names
        # (the hash store, not set there, is the batch target's: shared, as in a project).
        env.update(
            {
                "TAP_INTERCOM_REALTIME_INBOX_URL": self.inbox_url,
                "TARGET_SALESFORCE_REALTIME_SUMMARY_FILE": str(self.realtime_summary),
                "TARGET_SALESFORCE_REALTIME_WAITING_FILE": str(
                    self.output / "waiting" / "target-salesforce-realtime.jsonl"
                ),
                "TARGET_SALESFORCE_REALTIME_PROBLEMS_FILE": str(
                    self.output / "problems" / "target-salesforce-realtime.jsonl"
                ),
                "TAP_INTERCOM_REALTIME_SUMMARY_FILE": str(self.realtime_tap_summary),
                "TARGET_SALESFORCE_REALTIME_TAP_SUMMARY_FILE": str(self.realtime_tap_summary),
                "TARGET_SALESFORCE_REALTIME_RUN_REPORT_FILE": str(
                    self.output / "run-report-realtime.json"
                ),
                "INTERCOM_WEBHOOK_RECEIVER_INBOX_URL": self.inbox_url,
                "INTERCOM_WEBHOOK_RECEIVER_CLIENT_SECRET": WEBHOOK_SECRET,
            }
        )
        if self.environment != "dev":
            # Other environments name no emulator credentials: give the emulators' own.
            env.update(
                {
                    "TAP_INTERCOM_EVENTS_ACCESS_TOKEN": "emulator-token",
                    "TARGET_SALESFORCE_LEADS_CLIENT_ID": "emulator-client",
                    "TARGET_SALESFORCE_LEADS_CLIENT_SECRET": "emulator-secret",
                    "TARGET_SALESFORCE_LEADS_REFRESH_TOKEN": "emulator-refresh-token",
                }
            )
        env.update(self.extra_env)
        return env

    def meltano_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """`env()` plus the project and the pipeline's own system directory (`system_dir`)."""
        return {
            **self.env(),
            "MELTANO_PROJECT_ROOT": str(ROOT),
            "MELTANO_SYS_DIR_ROOT": str(self.system_dir),
            **(env or {}),
        }

    def meltano(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `meltano ARGS` in the project; fails on a non-zero exit when `check`."""
        proc = subprocess.run(
            [MELTANO, *args],
            cwd=self.workdir,
            env=self.meltano_env(env),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"meltano {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-6000:]}"
            )
        return proc

    def preflight(self) -> subprocess.CompletedProcess[str]:
        """The target's preflight on the mapper's output schemas, both through `meltano invoke`.

        `meltano invoke intercom-salesforce-mapping --schemas | meltano invoke
        target-salesforce-leads --preflight` (transform/README.md).
        """
        schemas = self.meltano("invoke", "intercom-salesforce-mapping", "--schemas", check=False)
        if schemas.returncode != 0:
            return schemas
        return subprocess.run(
            [MELTANO, "invoke", "target-salesforce-leads", "--preflight"],
            cwd=self.workdir,
            env=self.meltano_env(),
            input=schemas.stdout,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def run(
        self,
        *extra: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        schedule: bool = False,
    ) -> RunResult:
        """`meltano run intercom-to-salesforce`, with API calls counted on both emulators.

        `env` adds variables for this run only (e.g. TARGET_SALESFORCE_LEADS_DRY_RUN);
        `schedule` runs it as a scheduler does: `meltano schedule run SCHEDULE`.
        """
        self.intercom.reset_stats()
        self.salesforce.reset_stats()
        if self.target_summary.exists():
            self.target_summary.unlink()
        proc = self.meltano(*_run_args(extra, schedule), check=check, env=env)
        return self._result(proc.returncode, proc.stdout, proc.stderr)

    def _result(self, returncode: int, stdout: str, stderr: str) -> RunResult:
        sf_stats = self.salesforce.stats()
        ic_stats = self.intercom.stats()
        result = RunResult(
            returncode=returncode,
            stdout=stdout,
            stderr=stderr,
            intercom_calls=int(ic_stats.get("api_calls", 0)),
            salesforce_calls=int(sf_stats.get("api_calls", 0)),
            salesforce_by_endpoint=dict(sf_stats.get("by_endpoint", {})),
            salesforce_record_writes=dict(sf_stats.get("record_writes", {})),
            intercom_by_endpoint=dict(ic_stats.get("by_endpoint", {})),
            intercom_status_counts=dict(ic_stats.get("status_counts", {})),
        )
        if self.target_summary.exists():
            try:
                result.summary = json.loads(self.target_summary.read_text())
            except ValueError:  # a run killed while writing it
                result.summary = {}
        return result

    def start_run(
        self,
        *extra: str,
        env: dict[str, str] | None = None,
        schedule: bool = False,
        log: Path | None = None,
        job: str = JOB,
    ) -> RunningJob:
        """Start `meltano run` (or `meltano schedule run`, see `run`) and return.

        It runs in its own process group (to be killed as a whole); its output goes to `log`. With
        `job` = REALTIME_JOB the emulators' counters are left as they are (see `start_realtime`).
        """
        if job == JOB:
            self.intercom.reset_stats()
            self.salesforce.reset_stats()
            if self.target_summary.exists():
                self.target_summary.unlink()
        log = log or self.workdir / "killed-runs.log"
        fh = log.open("a")
        proc = subprocess.Popen(
            [MELTANO, *_run_args(extra, schedule, job)],
            cwd=self.workdir,
            env=self.meltano_env(env),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        fh.close()
        return RunningJob(self, proc, log)

    # -- real time -------------------------------------------------------------------------
    def start_receiver(self, port: int | None = None) -> ReceiverJob:
        """`meltano invoke intercom-webhook-receiver` (README, "Real time") on a free port.

        It stores into `inbox_url`; returns once it answers /health.
        """
        receiver = ReceiverJob(self, port)
        self.children.append(receiver)
        return receiver.start()

    def subscribe(self, receiver: ReceiverJob, topics: list[str] | None = None) -> None:
        """Subscribe the receiver to the Intercom emulator's webhooks, as Developer Hub does."""
        self.intercom.admin(
            "POST",
            "webhooks",
            {
                "url": receiver.webhook_url,
                "topics": topics or WEBHOOK_TOPICS,
                "client_secret": WEBHOOK_SECRET,
                "api_version": "2.14",
            },
        )

    def start_realtime(
        self, env: dict[str, str] | None = None, log: Path | None = None
    ) -> RunningJob:
        """`meltano run --force intercom-realtime-to-salesforce`, in follow mode.

        It runs until killed, as README's "Real time" runs it; stopped with the pipeline at the
        latest.
        """
        job = self.start_run(
            "--force", env=env, log=log or self.workdir / "realtime-job.log", job=REALTIME_JOB
        )
        self.children.append(job)
        return job

    def catch_up(self, env: dict[str, str] | None = None) -> RunResult:
        """The real-time job once with follow off: reads the inbox to its end, then exits."""
        proc = self.meltano(
            "run",
            "--force",
            REALTIME_JOB,
            check=False,
            env={"TAP_INTERCOM_REALTIME_FOLLOW": "false", **(env or {})},
        )
        return self._result(proc.returncode, proc.stdout, proc.stderr)

    def state_ids(self) -> list[str]:
        """The state ids Meltano holds."""
        return [
            line.strip()
            for line in self.meltano("state", "list").stdout.splitlines()
            if line.strip()
        ]

    def state_id(self) -> str:
        """The state id of this pipeline's job in its environment (`dev:tap-...-to-target-...`)."""
        ids = [
            i
            for i in self.state_ids()
            if i.startswith(f"{self.environment}:") and "realtime" not in i
        ]
        if not ids:
            raise RuntimeError(
                f"meltano state list shows no state id for environment {self.environment} yet"
            )
        return ids[0]

    def state(self) -> dict[str, Any]:
        """`meltano state get` of this environment's job, or {} when there is none yet."""
        try:
            state_id = self.state_id()
        except RuntimeError:
            return {}
        return json.loads(self.meltano("state", "get", state_id).stdout)

    def target_state(self) -> dict[str, dict[str, Any]]:
        """The target's state section by org id, with `waiting` decoded to a list of entries."""
        section = (self.state().get("singer_state") or {}).get(TARGET_STATE_KEY) or {}
        orgs: dict[str, dict[str, Any]] = {}
        for org_id, info in (section.get("orgs") or {}).items():
            info = dict(info)
            info["waiting"] = decode_waiting(info.get("waiting"))
            orgs[org_id] = info
        return orgs

    def waiting_in_state(self) -> list[dict[str, Any]]:
        """Every waiting record the state holds, over all orgs."""
        return [e for info in self.target_state().values() for e in info["waiting"]]

    def hash_store_dump(self) -> list[str]:
        """The target's hash store as SQL statements (to compare before and after a run)."""
        if not self.target_hashes.exists():
            return []
        conn = sqlite3.connect(f"file:{self.target_hashes}?mode=ro", uri=True)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()

    def waiting(self) -> list[dict[str, Any]]:
        """The target's waiting file: the waiting list after the last non-dry run."""
        return read_jsonl(self.waiting_file)

    # -- salesforce inspection ---------------------------------------------------------------
    def soql(self, query: str) -> list[dict[str, Any]]:
        """Records from the Salesforce emulator, read through its free admin query."""
        return list(self.salesforce.admin("POST", "query", {"q": query})["records"])

    def reject_reasons(self) -> Counter[str]:
        """Each reject reason of the mapper and the target, with its count."""
        reasons: Counter[str] = Counter()
        for row in read_jsonl(self.mapper_rejects):
            reasons[f"mapper {row.get('kind', 'rejected')}: {row.get('reason')}"] += 1
        for row in read_jsonl(self.target_rejects):
            reasons[f"target {row.get('sobject')}: {row.get('error_code')}"] += 1
        return reasons

    def clean_output(self) -> None:
        """Empty the output folder."""
        shutil.rmtree(self.output, ignore_errors=True)
        self.output.mkdir(parents=True, exist_ok=True)

    @property
    def rejects_archive(self) -> Path:
        """Reject files of earlier working directories (see `fresh_working_directory`)."""
        return self.workdir / "rejects-archive"

    def mapper_reject_rows(self) -> list[dict[str, Any]]:
        """Every line the mapper's reject file got, over every working directory, in order."""
        return read_jsonl(self.rejects_archive / self.mapper_rejects.name) + read_jsonl(
            self.mapper_rejects
        )

    def target_reject_rows(self) -> list[dict[str, Any]]:
        """Every line the target's reject file got, over every working directory, in order."""
        return read_jsonl(self.rejects_archive / self.target_rejects.name) + read_jsonl(
            self.target_rejects
        )

    def fresh_working_directory(self) -> None:
        """What a fresh container sees: only Meltano's state survives (no hash file, no output).

        The reject files are appended to an archive first, as a deployment would ship them to
        its logs, so that checks over every run still see what earlier runs rejected.
        """
        self.rejects_archive.mkdir(parents=True, exist_ok=True)
        for path in (self.mapper_rejects, self.target_rejects):
            if path.exists():
                with (self.rejects_archive / path.name).open("a", encoding="utf-8") as fh:
                    fh.write(path.read_text(encoding="utf-8"))
        self.clean_output()
        shutil.rmtree(self.target_dir, ignore_errors=True)


class RunningJob:
    """A `meltano run` started by `Pipeline.start_run`, to be waited for or killed."""

    def __init__(self, pipeline: Pipeline, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.pipeline = pipeline
        self.proc = proc
        self.log = log

    def alive(self) -> bool:
        """Whether the run is still going."""
        return self.proc.poll() is None

    def kill_group(self) -> None:
        """SIGKILL the whole process group: Meltano, the tap, the mapper and the target."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def wait(self, timeout: float = 900) -> RunResult:
        """Wait for the run to end; its result."""
        returncode = self.proc.wait(timeout=timeout)
        return self.pipeline._result(returncode, "", "")

    def plugin_pids(self, executable: str) -> list[int]:
        """Processes of this run's group whose command runs `executable` (a plugin's)."""
        return group_pids(self.proc.pid, executable)


def group_pids(pgid: int, executable: str) -> list[int]:
    """Processes of a process group whose command line runs `executable` (by name)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        if any(Path(arg.decode(errors="replace")).name == executable for arg in argv[:2]):
            pids.append(int(entry.name))
    return pids


class ReceiverJob:
    """`meltano invoke intercom-webhook-receiver` in its own process group, on a fixed port.

    A fixed port, so that a restart keeps the URL the emulator delivers to.
    """

    def __init__(self, pipeline: Pipeline, port: int | None = None) -> None:
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
        self.pipeline = pipeline
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.webhook_url = f"{self.url}/webhooks/intercom"
        self.log = pipeline.workdir / "receiver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> ReceiverJob:
        """Start the receiver through Meltano and wait until it answers; itself."""
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [MELTANO, "invoke", RECEIVER],
                cwd=self.pipeline.workdir,
                env=self.pipeline.meltano_env({"INTERCOM_WEBHOOK_RECEIVER_PORT": str(self.port)}),
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"receiver exited {self.proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"receiver not healthy within {timeout} s: {self.tail()}")

    def tail(self) -> str:
        """The end of the receiver's log."""
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def alive(self) -> bool:
        """Whether the receiver is still running."""
        return self.proc is not None and self.proc.poll() is None

    def kill_group(self) -> None:
        """Kill -9 of `meltano invoke` and the receiver under it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)


def _run_args(extra: tuple[str, ...], schedule: bool, job: str = JOB) -> list[str]:
    return ["schedule", "run", SCHEDULE, *extra] if schedule else ["run", *extra, job]


def decode_waiting(blob: str | None) -> list[dict[str, Any]]:
    """The entries of a state's `waiting` string: base64 of zlib-compressed JSON."""
    if not blob:
        return []
    doc = json.loads(zlib.decompress(base64.b64decode(blob)))
    entries = doc if isinstance(doc, list) else list(doc.get("entries") or [])
    # The state says `code`; the waiting and reject files say `error_code`.
    return [{"error_code": e.get("code"), **e} for e in entries]


def intercom_api(pipeline: Pipeline, method: str, path: str, body: Any = None) -> Any:
    """Call the Intercom emulator's public API as a client would (token, version header)."""
    import urllib.request

    req = urllib.request.Request(
        f"{pipeline.intercom.url}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": "Bearer emulator-token",
            "Intercom-Version": "2.14",
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def all_intercom_contacts(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every contact in the Intercom emulator, through the public list endpoint."""
    contacts: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = intercom_api(pipeline, "GET", f"/contacts?per_page=150{cursor}")
        contacts.extend(page["data"])
        nxt = (page.get("pages") or {}).get("next") or {}
        if not nxt.get("starting_after"):
            return contacts
        cursor = f"&starting_after={nxt['starting_after']}"


def all_intercom_conversations(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every conversation in the Intercom emulator, through the public search endpoint."""
    conversations: list[dict[str, Any]] = []
    pagination: dict[str, Any] = {"per_page": 150}
    while True:
        page = intercom_api(
            pipeline,
            "POST",
            "/conversations/search",
            {
                "query": {"field": "created_at", "operator": ">", "value": 0},
                "pagination": pagination,
            },
        )
        conversations.extend(page["conversations"])
        nxt = (page.get("pages") or {}).get("next") or {}
        if not nxt.get("starting_after"):
            return conversations
        pagination = {"per_page": 150, "starting_after": nxt["starting_after"]}


def salesforce_token(org: EmulatorProcess) -> dict[str, Any]:
    """A token from a Salesforce emulator's refresh-token grant (its default connected app)."""
    grant = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "refresh_token": "emulator-refresh-token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        }
    ).encode()
    req = urllib.request.Request(f"{org.url}/services/oauth2/token", data=grant, method="POST")
    context = ssl.create_default_context(cafile=str(org.ca_path))
    with urllib.request.urlopen(req, timeout=60, context=context) as resp:
        return dict(json.loads(resp.read()))


def salesforce_org_id(org: EmulatorProcess) -> str:
    """The org id in the token's identity URL (`.../id/<org id>/<user id>`)."""
    return str(salesforce_token(org)["id"]).rstrip("/").split("/")[-2]


def salesforce_api(org: EmulatorProcess, method: str, path: str, body: Any = None) -> Any:
    """Call a Salesforce emulator's REST API as a client would (OAuth token, TLS)."""
    token = salesforce_token(org)
    req = urllib.request.Request(
        f"{token['instance_url']}/services/data/v62.0/{path.lstrip('/')}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token['access_token']}",
            "Content-Type": "application/json",
        },
    )
    context = ssl.create_default_context(cafile=str(org.ca_path))
    with urllib.request.urlopen(req, timeout=60, context=context) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


# -- ground truth ----------------------------------------------------------------------------
# What Salesforce must hold after a run, computed from the emulators' own data (Intercom's public
# API, SOQL through the Salesforce emulator's admin query), never from the pipeline's reports.

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,}"
)


def usable_email(raw: str | None) -> str | None:
    """The address Salesforce would store for an Intercom email, or None if it cannot."""
    email = (raw or "").strip().lower()
    if len(email) > 80 or not _EMAIL.fullmatch(email):
        return None
    return email


def tag_names(pipeline: Pipeline) -> dict[str, str]:
    """Tag id -> name, from the workspace's tag list (embedded tag references carry ids only)."""
    return {t["id"]: t["name"] for t in intercom_api(pipeline, "GET", "/tags")["data"]}


def qualifies(
    pipeline: Pipeline, contact: dict[str, Any], names: dict[str, str] | None = None
) -> bool:
    """The default filter of transform/mappings/lead.yml, computed from Intercom's own API."""
    custom = contact.get("custom_attributes") or {}
    tags = contact.get("tags") or {}
    if tags.get("has_more"):  # the embedded list is cut short: read the whole one
        tags = intercom_api(pipeline, "GET", f"/contacts/{contact['id']}/tags")
    names = names if names is not None else tag_names(pipeline)
    tag_set = {t.get("name") or names.get(t["id"]) for t in tags.get("data", [])}
    return custom.get("qualification") == "hand_to_sales" or "sales-qualified" in tag_set


@dataclass
class IntercomTruth:
    """The workspace as Intercom's API shows it, with what lead.yml makes of each contact."""

    contacts: dict[str, dict[str, Any]]
    conversations: dict[str, dict[str, Any]]
    qualifying: set[str]
    emails: dict[str, str]  # qualifying contact id -> usable email
    person_of: dict[str, str | None]  # conversation id -> its first contact's id


def intercom_truth(pipeline: Pipeline) -> IntercomTruth:
    """The workspace as Intercom's API shows it, with what lead.yml makes of each contact."""
    contacts = {c["id"]: c for c in all_intercom_contacts(pipeline)}
    names = tag_names(pipeline)
    qualifying = {cid for cid, c in contacts.items() if qualifies(pipeline, c, names)}
    emails = {
        cid: email
        for cid in qualifying
        if (email := usable_email(contacts[cid].get("email"))) is not None
    }
    conversations = {c["id"]: c for c in all_intercom_conversations(pipeline)}
    person_of = {
        conv_id: next(iter(c["id"] for c in conv["contacts"]["contacts"]), None)
        for conv_id, conv in conversations.items()
    }
    return IntercomTruth(contacts, conversations, qualifying, emails, person_of)


@dataclass
class SalesforceView:
    """Leads, Contacts and Tasks of one org, read through the emulator's admin query."""

    leads: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    tasks: list[dict[str, Any]]

    def person_ids(self) -> dict[str, str]:
        """Intercom contact id -> the Salesforce Id a Task of that person must point to."""
        people: dict[str, str] = {}
        for lead in self.leads:
            cid = lead.get("Intercom_Contact_ID__c")
            if cid and lead.get("IsConverted") and lead.get("ConvertedContactId"):
                people.setdefault(cid, lead["ConvertedContactId"])
        for lead in self.leads:
            cid = lead.get("Intercom_Contact_ID__c")
            if cid and not lead.get("IsConverted"):
                people[cid] = lead["Id"]
        for contact in self.contacts:
            if contact.get("Intercom_Contact_ID__c"):
                people[contact["Intercom_Contact_ID__c"]] = contact["Id"]
        return people


def salesforce_view(org: EmulatorProcess) -> SalesforceView:
    """The org's Leads, Contacts and Tasks."""

    def soql(q: str) -> list[dict[str, Any]]:
        return list(org.admin("POST", "query", {"q": q})["records"])

    return SalesforceView(
        leads=soql(
            "SELECT Id, FirstName, LastName, Email, Company, Title, LeadSource, IsConverted, "
            "ConvertedContactId, Intercom_Contact_ID__c, Intercom_Sessions__c FROM Lead"
        ),
        contacts=soql(
            "SELECT Id, FirstName, LastName, Email, Title, Intercom_Contact_ID__c FROM Contact"
        ),
        tasks=soql("SELECT Id, WhoId, Subject, Intercom_Conversation_ID__c FROM Task"),
    )


def latest_by_key(rows: list[dict[str, Any]], stream_key: str, id_key: str) -> dict:
    """The last line per (stream, id) of an append-only reject file."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        latest[(str(row.get(stream_key)), str(row.get(id_key)))] = row
    return latest


@dataclass
class Accounting:
    """Every Intercom contact and conversation, each in exactly one place, or problems."""

    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    figures: dict[str, Any] = field(default_factory=dict)

    def problem(self, kind: str, ident: str) -> None:
        """Record one problem of `kind` about `ident`."""
        self.problems[kind].append(ident)

    def report(self) -> str:
        """Every kind of problem with its count and a few examples, on one line."""
        return "; ".join(
            f"{kind}: {len(ids)} (e.g. {', '.join(sorted(ids)[:4])})"
            for kind, ids in sorted(self.problems.items())
        )

    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def check(self) -> None:
        """Fail with every problem found, and the figures, in one message."""
        assert self.ok(), f"{self.report()}\nfigures: {self.figures}"


def account_for_everything(
    pipeline: Pipeline,
    truth: IntercomTruth | None = None,
    org: EmulatorProcess | None = None,
    *,
    waiting: list[dict[str, Any]] | None = None,
) -> Accounting:
    """Check the contract of the pipeline against the emulators' data.

    - every qualifying contact with a usable email is exactly one Lead or Contact (one record per
      email; another person sharing that email is rejected with a reason, never a second Lead);
    - every qualifying contact without a usable email is rejected by the mapper, with a reason;
    - every conversation of a person in Salesforce is exactly one Task on that person's record;
    - every other conversation is waiting (its person is not a Lead/Contact) or rejected;
    - nothing is in two places (written and waiting), nothing is anywhere twice.
    `waiting` defaults to the waiting records in Meltano's state (compared with the target's
    waiting file when there is one).
    """
    truth = truth or intercom_truth(pipeline)
    view = salesforce_view(org or pipeline.salesforce)
    acc = Accounting()
    if waiting is None:
        waiting = _waiting_in_state(pipeline, acc)
    summary = (
        json.loads(pipeline.target_summary.read_text()) if pipeline.target_summary.exists() else {}
    )
    ledger = _Ledger(
        truth=truth,
        view=view,
        acc=acc,
        waiting={(w["stream"], str(w["external_id"])): w for w in waiting},
        last_run=summary.get("run_id"),
        target_rejects=latest_by_key(pipeline.target_reject_rows(), "stream", "external_id"),
        mapper_rows=latest_by_key(pipeline.mapper_reject_rows(), "stream", "key"),
        people=view.person_ids(),
    )
    ledger.check_salesforce_people()
    for cid in truth.contacts:
        ledger.check_contact(cid)
    ledger.check_tasks()
    for conv_id, person in truth.person_of.items():
        ledger.check_conversation(conv_id, person)
    ledger.check_waiting()
    acc.figures = ledger.figures()
    return acc


def _waiting_in_state(pipeline: Pipeline, acc: Accounting) -> list[dict[str, Any]]:
    """The waiting records in Meltano's state; a problem for each the waiting file disagrees on.

    The state is where waiting records live; the file is its copy for people to read.
    """
    waiting = pipeline.waiting_in_state()
    if pipeline.waiting_file.exists():
        file_keys = {(w["stream"], str(w["external_id"])) for w in pipeline.waiting()}
        state_keys = {(w["stream"], str(w["external_id"])) for w in waiting}
        for stream, ext in file_keys ^ state_keys:
            acc.problem("waiting file and Meltano state disagree", f"{stream} {ext}")
    return waiting


@dataclass
class _Ledger:
    """The places a record can end (Salesforce, waiting, rejected) and the checks over them."""

    truth: IntercomTruth
    view: SalesforceView
    acc: Accounting
    waiting: dict[tuple[str, str], dict[str, Any]]
    last_run: str | None
    target_rejects: dict[tuple[str, str], dict[str, Any]]
    mapper_rows: dict[tuple[str, str], dict[str, Any]]
    people: dict[str, str]
    outcomes: Counter[str] = field(default_factory=Counter)
    per_id: Counter[str] = field(default_factory=Counter)
    holders: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tasks: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def check_salesforce_people(self) -> None:
        """No person twice, no two open records sharing an email, no Lead of nobody."""
        view, acc = self.view, self.acc
        open_records = [r for r in view.leads if not r.get("IsConverted")] + view.contacts
        self.per_id = Counter(
            r["Intercom_Contact_ID__c"] for r in open_records if r.get("Intercom_Contact_ID__c")
        )
        for cid, n in self.per_id.items():
            if n > 1:
                acc.problem("person in Salesforce more than once", cid)
        per_email = Counter(
            (r.get("Email") or "").lower()
            for r in open_records
            if r.get("Email") and r.get("Intercom_Contact_ID__c")
        )
        for email, n in per_email.items():
            if n > 1:
                acc.problem("two open Leads/Contacts share an email", email)
        for lead in view.leads:
            if lead.get("LeadSource") == "Intercom" and not lead.get("Intercom_Contact_ID__c"):
                acc.problem("Lead from Intercom without its external id", lead["Id"])
            lead_cid = lead.get("Intercom_Contact_ID__c")
            if lead_cid and lead_cid not in self.truth.contacts:
                acc.problem("Lead of no Intercom contact", lead_cid)
        for cid, email in self.truth.emails.items():
            if cid in self.people:
                self.holders[email].add(cid)

    def check_contact(self, cid: str) -> None:
        """One Intercom contact is in exactly the one place its qualification and email allow."""
        if cid in self.truth.emails:
            self._check_lead(cid)
        elif cid in self.truth.qualifying:
            mapped = self.mapper_rows.get(("Lead", cid))
            if cid in self.people:
                self.acc.problem("contact without a usable email in Salesforce", cid)
            elif not (mapped and mapped.get("kind") == "rejected" and mapped.get("reason")):
                self.acc.problem("contact without a usable email not rejected by the mapper", cid)
            else:
                self.outcomes["Lead rejected by the mapper"] += 1
        elif cid in self.per_id:
            self.acc.problem("contact that does not qualify is in Salesforce", cid)
        elif self.mapper_rows.get(("Lead", cid)) is None:
            self.acc.problem("contact never seen by the mapper", cid)
        else:
            self.outcomes["contact filtered"] += 1

    def _check_lead(self, cid: str) -> None:
        """A qualifying contact with a usable email: written, waiting or rejected (with reason)."""
        acc = self.acc
        written = cid in self.people
        wait = self.waiting.get(("Lead", cid))
        rej = self.target_rejects.get(("Lead", cid))
        if written and wait:
            acc.problem("Lead written and still waiting", cid)
        if written and rej and self.last_run and rej.get("run_id") == self.last_run:
            acc.problem("Lead written and rejected in the same run", cid)
        if written:
            self.outcomes["Lead written"] += 1
        elif wait:
            self.outcomes[f"Lead waiting {wait.get('error_code')}"] += 1
        elif rej:
            self.outcomes[f"Lead rejected {rej.get('error_code')}"] += 1
            if not self.holders.get(self.truth.emails[cid]):
                acc.problem("email held by nobody (all its people rejected)", cid)
            if not (rej.get("error_code") and rej.get("message")):
                acc.problem("reject without a reason", cid)
        else:
            mapped = self.mapper_rows.get(("Lead", cid))
            reason = f" (mapper: {mapped.get('reason')})" if mapped else ""
            acc.problem("qualifying contact lost" + reason, cid)

    def check_tasks(self) -> None:
        """No conversation is two Tasks; no Task of no conversation."""
        for task in self.view.tasks:
            if task.get("Intercom_Conversation_ID__c"):
                self.tasks[task["Intercom_Conversation_ID__c"]].append(task)
        for conv_id, rows in self.tasks.items():
            if len(rows) > 1:
                self.acc.problem("conversation is more than one Task", conv_id)
            if conv_id not in self.truth.conversations:
                self.acc.problem("Task of no Intercom conversation", conv_id)

    def check_conversation(self, conv_id: str, cid: str | None) -> None:
        """A conversation is one Task on its person, or waiting or rejected (with reason)."""
        rows = self.tasks.get(conv_id, [])
        who = self.people.get(cid) if cid else None
        if cid is None:
            mapped = self.mapper_rows.get(("Task", conv_id))
            if rows:
                self.acc.problem("Task of a conversation without a contact", conv_id)
            elif not (mapped and mapped.get("reason")):
                self.acc.problem("conversation without a contact not rejected", conv_id)
            else:
                self.outcomes["Task rejected by the mapper"] += 1
        elif who:
            self._check_task_of_person(conv_id, rows, who)
        else:
            self._check_task_of_nobody(conv_id, rows)

    def _check_task_of_person(self, conv_id: str, rows: list[dict[str, Any]], who: str) -> None:
        """The person is in Salesforce: exactly one Task, on that person."""
        wait = self.waiting.get(("Task", conv_id))
        rej = self.target_rejects.get(("Task", conv_id))
        if not rows:
            state = f" (waiting {wait.get('error_code')})" if wait else ""
            state = state or (f" (rejected {rej.get('error_code')})" if rej else "")
            self.acc.problem("conversation of a person in Salesforce is no Task" + state, conv_id)
        elif rows[0].get("WhoId") != who:
            self.acc.problem("Task on the wrong person", conv_id)
        else:
            self.outcomes["Task written"] += 1
        if rows and wait:
            self.acc.problem("Task written and still waiting", conv_id)

    def _check_task_of_nobody(self, conv_id: str, rows: list[dict[str, Any]]) -> None:
        """The person is not in Salesforce: no Task; waiting for the person, or rejected."""
        wait = self.waiting.get(("Task", conv_id))
        rej = self.target_rejects.get(("Task", conv_id))
        if rows:
            self.acc.problem("Task of a person not in Salesforce", conv_id)
        elif wait:
            if wait.get("error_code") != "INVALID_CROSS_REFERENCE_KEY":
                self.acc.problem(f"Task waiting for {wait.get('error_code')}", conv_id)
            self.outcomes[f"Task waiting {wait.get('error_code')}"] += 1
        elif rej:
            self.outcomes[f"Task rejected {rej.get('error_code')}"] += 1
        else:
            self.acc.problem("conversation of a person not in Salesforce lost", conv_id)

    def check_waiting(self) -> None:
        """Every waiting record is of an Intercom record and says why it waits."""
        for (stream, ext), row in self.waiting.items():
            known = self.truth.contacts if stream == "Lead" else self.truth.conversations
            if ext not in known:
                self.acc.problem(f"{stream} waiting for no Intercom record", ext)
            if not (row.get("error_code") and row.get("message")):
                self.acc.problem("waiting without a reason", ext)

    def figures(self) -> dict[str, Any]:
        """The counts the accounting covered, and each outcome's count."""
        truth, view = self.truth, self.view
        return {
            "intercom_contacts": len(truth.contacts),
            "qualifying": len(truth.qualifying),
            "qualifying_with_usable_email": len(truth.emails),
            "intercom_conversations": len(truth.conversations),
            "salesforce_leads": len(view.leads),
            "salesforce_contacts": len(view.contacts),
            "salesforce_tasks": len(view.tasks),
            "waiting": len(self.waiting),
            "outcomes": dict(sorted(self.outcomes.items())),
        }
