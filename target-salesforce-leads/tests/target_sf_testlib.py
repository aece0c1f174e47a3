"""Test helpers: Singer messages, and a harness running the target CLI against the emulator."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from emulators.testing import EmulatorProcess
from target_salesforce_leads.waiting import STATE_KEY, WaitingList

TARGET_CLI = [
    sys.executable,
    "-c",
    "from target_salesforce_leads.target import TargetSalesforceLeads as T; T.cli()",
]

LEAD_SCHEMA = {
    "type": "object",
    "properties": {
        "Intercom_Contact_ID__c": {"type": "string"},
        "FirstName": {"type": ["string", "null"]},
        "LastName": {"type": ["string", "null"]},
        "Company": {"type": ["string", "null"]},
        "Email": {"type": ["string", "null"]},
        "Phone": {"type": ["string", "null"]},
        "Title": {"type": ["string", "null"]},
        "LeadSource": {"type": ["string", "null"]},
        "Status": {"type": ["string", "null"]},
        "Description": {"type": ["string", "null"]},
        "Company_Size__c": {"type": ["integer", "null"]},
        "Intercom_Qualification__c": {"type": ["string", "null"]},
        "Intercom_Last_Seen__c": {"type": ["string", "null"], "format": "date-time"},
        "Intercom_Sessions__c": {"type": ["integer", "null"]},
        "Intercom_Event_Count__c": {"type": ["integer", "null"]},
        "Intercom_Engagement_Score__c": {"type": ["integer", "null"]},
        "Intercom_URL__c": {"type": ["string", "null"]},
    },
}
TASK_SCHEMA = {
    "type": "object",
    "properties": {
        "Intercom_Conversation_ID__c": {"type": "string"},
        "Subject": {"type": ["string", "null"]},
        "Description": {"type": ["string", "null"]},
        "ActivityDate": {"type": ["string", "null"], "format": "date"},
        "Status": {"type": ["string", "null"]},
        "Priority": {"type": ["string", "null"]},
        "Type": {"type": ["string", "null"]},
        "Intercom_URL__c": {"type": ["string", "null"]},
        "Who": {
            "type": ["object", "null"],
            "properties": {"Intercom_Contact_ID__c": {"type": "string"}},
        },
    },
}
KEYS = {"Lead": ["Intercom_Contact_ID__c"], "Task": ["Intercom_Conversation_ID__c"]}
SCHEMAS = {"Lead": LEAD_SCHEMA, "Task": TASK_SCHEMA}


def schema_msg(stream: str) -> dict[str, t.Any]:
    # A copy: tests change their schema in place (an extra field) without touching others'.
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": copy.deepcopy(SCHEMAS[stream]),
        "key_properties": KEYS[stream],
    }


def record_msg(stream: str, record: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "RECORD", "stream": stream, "record": record}


def state_msg(value: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "STATE", "value": value}


def lead(i: int | str, **extra: t.Any) -> dict[str, t.Any]:
    rec = {
        "Intercom_Contact_ID__c": f"ic_{i}",
        "FirstName": "Ada",
        "LastName": f"Person {i}",
        "Company": "Acme",
        "Email": f"person{i}@example.com",
    }
    rec.update(extra)
    return rec


def lead_messages(records: list[dict[str, t.Any]], state: dict | None = None) -> list[dict]:
    msgs = [schema_msg("Lead"), *(record_msg("Lead", r) for r in records)]
    if state is not None:
        msgs.append(state_msg(state))
    return msgs


@dataclass
class RunResult:
    returncode: int
    raw_states: list[dict[str, t.Any]]  # as emitted, with the target's own section
    stderr: str
    summary: dict[str, t.Any]
    rejects: list[dict[str, t.Any]] = field(default_factory=list)

    @property
    def states(self) -> list[dict[str, t.Any]]:
        """The emitted states without the target's section (what the tap's bookmarks say)."""
        return [{k: v for k, v in s.items() if k != STATE_KEY} for s in self.raw_states]

    def section(self) -> dict[str, t.Any]:
        """The target's section of the last emitted state, for the one org (empty if none)."""
        if not self.raw_states:
            return {}
        orgs = (self.raw_states[-1].get(STATE_KEY) or {}).get("orgs") or {}
        return next(iter(orgs.values()), {})

    def waiting(self) -> WaitingList:
        """The waiting records the last emitted state carries."""
        return WaitingList.decode(self.section().get("waiting"))

    def stream(self, name: str) -> dict[str, int]:
        return self.summary["streams"].get(name, {})

    def assert_accounted(self, name: str, sent: int) -> None:
        """written + unchanged + waiting + rejected (+ merged duplicates) = sent (+ retried)."""
        s = self.stream(name)
        total = sum(
            s.get(k, 0)
            for k in ("created", "updated", "unchanged", "waiting", "rejected", "merged")
        )
        assert s.get("received") == sent, s
        assert total == sent + s.get("retried", 0), s


class Harness:
    """Runs the target against one emulator with per-test files."""

    def __init__(self, sf: EmulatorProcess, tmp: Path) -> None:
        self.sf = sf
        self.tmp = tmp
        self.runs = 0
        # The last state the target emitted: given back at the start of the next run, as a tap
        # that passes the target's section through does (carry_state=False to start afresh).
        self.last_state: dict[str, t.Any] | None = None

    def config(self, **overrides: t.Any) -> dict[str, t.Any]:
        cfg = {
            "instance_url": self.sf.url,
            "login_url": self.sf.url,
            "ca_bundle": str(self.sf.ca_path),
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
            "state_path": str(self.tmp / "hashes.sqlite"),
            "reject_file": str(self.tmp / "rejects.jsonl"),
            "run_report_file": str(self.tmp / "run-report.json"),
            "tap_summary_file": "",
            "mapper_summary_file": "",
            "retry_backoff_seconds": 0.05,
            "history_database_url": str(self.tmp / "run-history.db"),
        }
        cfg.update(overrides)
        return cfg

    def run(
        self,
        messages: list[dict[str, t.Any]],
        *,
        args: t.Sequence[str] = (),
        timeout: float = 240,
        carry_state: bool = True,
        **overrides: t.Any,
    ) -> RunResult:
        self.runs += 1
        if carry_state and self.last_state is not None:
            messages = [state_msg(self.last_state), *messages]
        cfg = self.config(**overrides)
        cfg.setdefault("summary_file", str(self.tmp / f"summary-{self.runs}.json"))
        cfg_path = self.tmp / f"config-{self.runs}.json"
        cfg_path.write_text(json.dumps(cfg))
        reject_path = Path(cfg["reject_file"])
        before = reject_path.read_text().splitlines() if reject_path.exists() else []
        data = "".join(json.dumps(m) + "\n" for m in messages)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.run(
            [*TARGET_CLI, "--config", str(cfg_path), *args],
            input=data,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        states = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        if states:
            self.last_state = states[-1]
        summary_path = Path(cfg["summary_file"])
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        after = reject_path.read_text().splitlines() if reject_path.exists() else []
        rejects = [json.loads(line) for line in after[len(before) :]]
        return RunResult(proc.returncode, states, proc.stderr, summary, rejects)

    def query(self, soql: str) -> list[dict[str, t.Any]]:
        return self.sf.admin("POST", "query", {"q": soql})["records"]

    def insert(self, sobject: str, records: list[dict[str, t.Any]]) -> list[str]:
        answer = self.sf.admin("POST", f"records/{sobject}", {"records": records})
        ids = answer.get("ids") if isinstance(answer, dict) else answer
        return [i if isinstance(i, str) else i.get("id") for i in ids]

    def write_calls(self, *, composite: bool = True) -> int:
        """Billed requests that write (anything but GET) to the public API.

        ``composite=False`` leaves out ``POST /composite``, which may carry lookups only (as in
        a dry run); such tests also check that the data did not change.
        """
        stats = self.sf.stats()
        return sum(
            n
            for ep, n in stats["by_endpoint"].items()
            if not ep.startswith("GET ")
            and "oauth2" not in ep
            and (composite or ep != "POST /composite")
        )

    def api_calls(self) -> int:
        """Every billed request (the emulator's ``api_calls``)."""
        return int(self.sf.stats()["api_calls"])


def history_report(
    run_id: str,
    leads: dict[str, int],
    tasks: dict[str, int],
    problems: Path | None,
    sf_calls: int,
    status: str = "ok",
) -> dict[str, t.Any]:
    """A target run summary with these counts (the fields the run history reads)."""
    zero = dict.fromkeys(("created", "updated", "unchanged", "waiting", "rejected"), 0)
    return {
        "run_id": run_id,
        "status": status,
        "exit_code": 0 if status != "failed" else 1,
        "dry_run": False,
        "api_calls": sf_calls,
        "waiting_now": tasks.get("waiting", 0),
        "objects": {"Lead": {**zero, **leads}, "Task": {**zero, **tasks}},
        "rejected_by_reason": [
            {
                "code": "INVALID_EMAIL_ADDRESS",
                "count": leads.get("rejected", 0),
                "example": "Email: invalid email address: <b>x@</b>",
            }
        ]
        if leads.get("rejected")
        else [],
        "waiting_by_reason": [
            {
                "code": "PARENT_WAITING",
                "count": tasks.get("waiting", 0),
                "example": "its Lead is not written yet",
            }
        ]
        if tasks.get("waiting")
        else [],
        "files": {"problems": str(problems) if problems else None},
    }


def write_problem_rows(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """An open-problems file with one line per (status, error code, external id)."""
    path.write_text(
        "".join(
            json.dumps(
                {
                    "status": status,
                    "stream": "Lead",
                    "sobject": "Lead",
                    "external_id": ext,
                    "error_code": code,
                    "message": f"{code} for {ext}",
                    "time": f"2026-01-0{i + 1}T00:00:00Z",
                }
            )
            + "\n"
            for i, (status, code, ext) in enumerate(rows)
        )
    )


def as_run_report(
    summary: dict[str, t.Any],
    intercom_calls: int,
    mapper_rejects: t.Sequence[tuple[str, int]] = (),
    finished_at: str | None = None,
) -> dict[str, t.Any]:
    """The pipeline's run report (run_report.build_run_report) around a target summary, with
    the extractor's API calls and the mapper's rejects by reason."""
    from target_salesforce_leads.run_report import build_run_report

    mapper = {
        "status": "ok",
        "rejected": sum(n for _, n in mapper_rejects),
        "rejected_by_reason": [
            {"stream": "contacts", "reason": code, "count": n, "example": f"{code} example"}
            for code, n in mapper_rejects
        ],
    }
    problems = (summary.get("files") or {}).get("problems")
    return build_run_report(
        summary,
        tap={"status": "ok", "api_calls": intercom_calls},
        mapper=mapper,
        environment="dev",
        finished_at=finished_at,
        files={"problems": {"target": problems}} if problems else {},
    )
