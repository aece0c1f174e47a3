"""Run the Meltano project against local emulators: shared by `make demo` and the end-to-end tests.

A `Pipeline` owns one Intercom emulator, one Salesforce emulator, a Meltano system database and an
output folder, and runs `meltano run intercom-to-salesforce` with every setting that differs from
the `dev` environment passed as the plugins' own environment variables (Meltano lets those override
`meltano.yml`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(Path(sys.executable).with_name("meltano"))
JOB = "intercom-to-salesforce"
WRITE_ONLY_ENDPOINTS = ("PATCH", "PUT", "DELETE", "POST /sobjects", "POST /jobs")


def meltano_install(env: dict[str, str] | None = None) -> None:
    """Install the three plugins into .meltano/ (editable installs of this repo, with uv)."""
    run_env = {**os.environ, **(env or {})}
    subprocess.run(
        [MELTANO, "install"],
        cwd=ROOT,
        env=run_env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
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
    ) -> None:
        self.workdir = Path(workdir)
        self.output = self.workdir / "output"
        self.intercom = EmulatorProcess("intercom", self.workdir / "intercom", intercom_args or [])
        self.salesforce = EmulatorProcess(
            "salesforce", self.workdir / "salesforce", salesforce_args or []
        )
        self.extra_env: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Pipeline:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(parents=True, exist_ok=True)
        self.intercom.start()
        self.salesforce.start()
        return self

    def stop(self) -> None:
        self.intercom.stop()
        self.salesforce.stop()

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- paths -----------------------------------------------------------------------------
    @property
    def mapper_rejects(self) -> Path:
        return self.output / "rejects" / "map-intercom-salesforce.jsonl"

    @property
    def target_rejects(self) -> Path:
        return self.output / "rejects" / "target-salesforce-leads.jsonl"

    @property
    def target_summary(self) -> Path:
        return self.output / "target-salesforce-leads-summary.json"

    # -- meltano ---------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment for Meltano: points the dev environment at this pipeline's emulators."""
        sf, ic = self.salesforce, self.intercom
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_INTERCOM_EVENTS_API_URL": ic.url,
            "TARGET_SALESFORCE_LEADS_LOGIN_URL": sf.url,
            "TARGET_SALESFORCE_LEADS_INSTANCE_URL": sf.url,
            "TARGET_SALESFORCE_LEADS_CA_BUNDLE": str(sf.ca_path),
            "TARGET_SALESFORCE_LEADS_REJECT_FILE": str(self.target_rejects),
            "TARGET_SALESFORCE_LEADS_SUMMARY_FILE": str(self.target_summary),
            "TARGET_SALESFORCE_LEADS_STATE_PATH": str(self.workdir / "target-hashes.sqlite"),
            "MAPPER_REJECT_FILE": str(self.mapper_rejects),
            **self.extra_env,
        }
        return env

    def meltano(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [MELTANO, *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"meltano {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-6000:]}"
            )
        return proc

    def run(self, *extra: str, check: bool = True) -> RunResult:
        """`meltano run intercom-to-salesforce`, with API calls counted on both emulators."""
        self.intercom.reset_stats()
        self.salesforce.reset_stats()
        if self.target_summary.exists():
            self.target_summary.unlink()
        proc = self.meltano("run", *extra, JOB, check=check)
        sf_stats = self.salesforce.stats()
        result = RunResult(
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            intercom_calls=int(self.intercom.stats().get("api_calls", 0)),
            salesforce_calls=int(sf_stats.get("api_calls", 0)),
            salesforce_by_endpoint=dict(sf_stats.get("by_endpoint", {})),
            salesforce_record_writes=dict(sf_stats.get("record_writes", {})),
        )
        if self.target_summary.exists():
            result.summary = json.loads(self.target_summary.read_text())
        return result

    def state_id(self) -> str:
        ids = [
            line.strip()
            for line in self.meltano("state", "list").stdout.splitlines()
            if line.strip()
        ]
        if not ids:
            raise RuntimeError("meltano state list shows no state id yet")
        return ids[0]

    def state(self) -> dict[str, Any]:
        return json.loads(self.meltano("state", "get", self.state_id()).stdout)

    # -- salesforce inspection ---------------------------------------------------------------
    def soql(self, query: str) -> list[dict[str, Any]]:
        """Records from the Salesforce emulator, read through its free admin query."""
        return list(self.salesforce.admin("POST", "query", {"q": query})["records"])

    def reject_reasons(self) -> Counter[str]:
        reasons: Counter[str] = Counter()
        for row in read_jsonl(self.mapper_rejects):
            reasons[f"mapper {row.get('kind', 'rejected')}: {row.get('reason')}"] += 1
        for row in read_jsonl(self.target_rejects):
            reasons[f"target {row.get('sobject')}: {row.get('error_code')}"] += 1
        return reasons

    def clean_output(self) -> None:
        shutil.rmtree(self.output, ignore_errors=True)
        self.output.mkdir(parents=True, exist_ok=True)


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
