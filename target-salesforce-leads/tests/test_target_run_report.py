"""The run report: built from the three plugins' summaries, written, printed, and alerts sent to
a webhook (a real HTTP receiver on a loopback port)."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import threading
import typing as t
from pathlib import Path

import pytest
from singer_kit.summary import pipeline_key
from target_salesforce_leads.alerts import alert_reasons
from target_salesforce_leads.run_report import (
    build_run_report,
    human_summary,
    load_plugin_summary,
    output_files,
)
from target_salesforce_leads.waiting import STATE_KEY, WaitingList

from .target_sf_testlib import Harness, lead, lead_messages, record_msg, schema_msg, state_msg

RUN_ID = "6f1c1f7e-3d1a-4c43-9d7a-0d6c1f1b2a3e"
SECRETS = ("emulator-secret", "emulator-refresh-token", "Bearer ", "hooks-secret-token")


def target_summary(**extra: t.Any) -> dict[str, t.Any]:
    summary = {
        "run_id": "r1",
        "status": "ok",
        "exit_code": 0,
        "dry_run": False,
        "objects": {
            "Lead": {"created": 3, "updated": 1, "unchanged": 5, "waiting": 0, "rejected": 2}
        },
        "totals": {
            "created": 3,
            "updated": 1,
            "unchanged": 5,
            "waiting": 0,
            "rejected": 2,
            "received": 11,
            "retried": 0,
            "merged": 0,
        },
        "rejected_by_reason": [
            {
                "code": "INVALID_EMAIL_ADDRESS",
                "count": 2,
                "example": "Email: invalid email address: x@",
            }
        ],
        "waiting_by_reason": [],
        "waiting_now": 0,
        "waiting": {"by_reason": {}},
        "configuration_problems": [],
        "api_calls": 4,
        "api_calls_by_kind": {"composite": 2},
    }
    summary.update(extra)
    return summary


TAP = {
    "name": "tap-intercom-events",
    "api": "Intercom",
    "status": "ok",
    "error": None,
    "api_calls": 12,
    "throttled": 1,
    "rate_limit": {"share_allowed": 1.0, "window_limit": 167, "peak_share_used": 0.25},
    "streams": {"contacts": {"records": 20, "api_calls": 3}},
}
MAPPER = {
    "status": "ok",
    "records_in": {"contacts": 20},
    "records_out": {"Lead": 11},
    "rejected": 4,
    "filtered": 5,
    "rejected_by_reason": [
        {
            "stream": "Lead",
            "reason": "no email; cannot match",
            "count": 4,
            "example": "contacts 123",
        }
    ],
}


def test_report_merges_the_three_summaries_with_reasons_by_count() -> None:
    report = build_run_report(
        target_summary(),
        tap=TAP,
        mapper=MAPPER,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:30+00:00",
        environment="dev",
    )
    assert report["status"] == "ok" and report["duration_seconds"] == 30
    assert report["rejected"]["total"] == 6
    assert [(r["source"], r["code"], r["count"]) for r in report["rejected"]["by_reason"]] == [
        ("mapper", "no email; cannot match", 4),
        ("target", "INVALID_EMAIL_ADDRESS", 2),
    ]
    assert report["extractor"]["api_calls"] == 12
    assert report["salesforce"]["api_calls"] == 4
    lines = human_summary(report)
    text = "\n".join(lines)
    assert len(lines) <= 10
    assert "Lead: 3 created, 1 updated, 5 unchanged, 0 waiting, 2 rejected" in text
    assert "Intercom: ok; read contacts 20; 12 API calls, 1 answered 429, peak 25%" in text
    assert "Rejected 6: mapper Lead no email; cannot match 4 (e.g. contacts 123)" in text


def test_a_failed_extractor_fails_the_report_and_alerts() -> None:
    tap = {**TAP, "status": "failed", "error": "401 unauthorized for path /contacts"}
    report = build_run_report(target_summary(), tap=tap, mapper=MAPPER)
    assert report["status"] == "failed"
    assert alert_reasons(report, {}) == [
        "the extractor failed: 401 unauthorized for path /contacts"
    ]


@pytest.mark.parametrize(
    ("setting", "limit", "alerts"),
    [
        ("alert_max_rejected", 6, False),
        ("alert_max_rejected", 5, True),
        ("alert_max_rejected_share", 0.3, True),
        ("alert_max_rejected_share", 0.4, False),
    ],
)
def test_reject_thresholds_are_a_count_and_a_share(
    setting: str, limit: float, alerts: bool
) -> None:
    # 6 rejected (2 by the target, 4 by the mapper) of 15 (11 reached the target): 40 %.
    report = build_run_report(target_summary(), tap=TAP, mapper=MAPPER)
    reasons = alert_reasons(report, {setting: limit})
    assert bool(reasons) is alerts, reasons
    assert not alert_reasons(report, {})


def test_waiting_threshold_reads_the_oldest_waiting_record() -> None:
    now = datetime.datetime(2026, 1, 3, tzinfo=datetime.timezone.utc)
    report = build_run_report(
        target_summary(waiting_now=2),
        finished_at=now.isoformat(),
        waiting_first_seen=["2026-01-01T00:00:00+00:00", "2026-01-02T12:00:00+00:00"],
    )
    assert report["waiting"]["oldest_hours"] == 48
    assert alert_reasons(report, {"alert_max_waiting_hours": 47})
    assert not alert_reasons(report, {"alert_max_waiting_hours": 48})


def test_a_summary_of_another_pipeline_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "tap.json"
    summary, problem = load_plugin_summary(str(path), pipeline_key(), "The extractor")
    assert summary is None and "left no summary" in (problem or "")
    path.write_text(json.dumps({**TAP, "pipeline": "ppid:1:0"}))
    summary, problem = load_plugin_summary(str(path), pipeline_key(), "The extractor")
    assert summary is None and "from another run" in (problem or "")
    path.write_text(json.dumps({**TAP, "pipeline": pipeline_key()}))
    summary, problem = load_plugin_summary(str(path), pipeline_key(), "The extractor")
    assert problem is None and summary and summary["api_calls"] == 12
    assert load_plugin_summary("", pipeline_key(), "The extractor") == (None, None)


# -- through the target CLI, against the Salesforce emulator ---------------------------------


class Receiver:
    """A webhook receiver on a free loopback port, keeping what it was sent."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, t.Any]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: t.Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/hooks-secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> t.Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_run_writes_the_report_merges_the_extractor_and_alerts(
    harness: Harness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MELTANO_RUN_ID", RUN_ID)
    monkeypatch.setenv("MELTANO_ENVIRONMENT", "unit")
    tap_file = tmp_path / "tap-summary.json"
    tap_file.write_text(json.dumps({**TAP, "pipeline": f"run:{RUN_ID}"}))
    records = [lead(1), lead(2), lead(3, Email="not-an-email"), lead(4, LastName=None)]
    result = harness.run(
        lead_messages(records, {"s": 1}),
        tap_summary_file=str(tap_file),
        alert_webhook_url=receiver.url,
        alert_max_rejected=1,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((harness.tmp / "run-report.json").read_text())
    # Figures as the emulator counts them.
    assert report["objects"]["Lead"]["created"] == len(harness.query("SELECT Id FROM Lead")) == 2
    assert report["salesforce"]["api_calls"] == harness.api_calls()
    assert report["salesforce"]["daily_max"] and report["salesforce"]["allowance"]
    assert report["run_id"] == RUN_ID and report["meltano"]["environment"] == "unit"
    assert {r["code"] for r in report["rejected"]["by_reason"]} == {
        "INVALID_EMAIL_ADDRESS",
        "REQUIRED_FIELD_MISSING",
    }
    assert all(r["example"] for r in report["rejected"]["by_reason"])
    assert report["extractor"]["api_calls"] == 12 and report["problems"] == []
    for path in (report["files"]["run_report"], report["files"]["rejects"]["target"]):
        assert Path(path).exists()
    # Printed: the same figures.
    assert "Lead: 2 created, 0 updated, 0 unchanged, 0 waiting, 2 rejected" in result.stderr
    assert f"{report['salesforce']['api_calls']} API calls" in result.stderr
    # The alert: two rejected, more than alert_max_rejected=1; no secret in it.
    assert len(receiver.bodies) == 1
    body = json.dumps(receiver.bodies[0])
    assert "2 records rejected" in receiver.bodies[0]["text"]
    assert "blocks" in receiver.bodies[0]
    for secret in SECRETS:
        assert secret not in body and secret not in result.stderr
    assert report["alert"]["sent"] is True


def test_cli_failing_webhook_is_logged_and_the_run_succeeds(harness: Harness) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/hooks-secret-token"
    result = harness.run(
        lead_messages([lead(1, Email="bad")]), alert_webhook_url=url, alert_max_rejected=0
    )
    assert result.returncode == 0, result.stderr
    assert "Could not send the alert to alert_webhook_url (could not connect)" in result.stderr
    assert "hooks-secret-token" not in result.stderr
    report = json.loads((harness.tmp / "run-report.json").read_text())
    assert report["alert"] == {
        "reasons": report["alert"]["reasons"],
        "sent": False,
        "error": "could not connect",
    }


def test_cli_alerts_on_a_record_waiting_too_long(harness: Harness, receiver: Receiver) -> None:
    task = {
        "Intercom_Conversation_ID__c": "conv_1",
        "Subject": "Hi",
        "Who": {"Intercom_Contact_ID__c": "ic_nobody"},
    }
    first = harness.run(
        [schema_msg("Task"), record_msg("Task", task), state_msg({"s": 1})],
        alert_webhook_url=receiver.url,
        alert_max_waiting_hours=24,
    )
    assert first.stream("Task")["waiting"] == 1, first.stderr
    assert receiver.bodies == []  # waiting, but not for long
    # The same record, first seen two days ago.
    state = harness.last_state
    assert state is not None
    org = next(iter(state[STATE_KEY]["orgs"].values()))
    waiting = WaitingList.decode(org["waiting"])
    for entry in waiting.entries.values():
        entry.first_seen = (
            datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
        ).isoformat(timespec="seconds")
    org["waiting"] = waiting.encode()
    second = harness.run(
        [state_msg({"s": 2})], alert_webhook_url=receiver.url, alert_max_waiting_hours=24
    )
    report = json.loads((harness.tmp / "run-report.json").read_text())
    assert report["waiting"]["total"] == 1 and report["waiting"]["oldest_hours"] >= 47.9
    assert len(receiver.bodies) == 1, second.stderr
    assert "the oldest for" in receiver.bodies[0]["text"]


def test_files_come_from_an_earlier_mapper_summary_when_the_target_stops_first(
    tmp_path: Path,
) -> None:
    """A target that stops at login finishes before the mapper writes this run's summary: the
    mapper's file paths (not its figures) still come from the summary it left last time."""
    rejects = tmp_path / "mapper-rejects.jsonl"
    rejects.write_text("{}\n")
    summary = tmp_path / "mapper-summary.json"
    summary.write_text(json.dumps({"pipeline": "ppid:1:0", "files": {"rejects": str(rejects)}}))
    files = output_files(
        {"mapper_summary_file": str(summary), "run_report_file": str(tmp_path / "r.json")}, None
    )
    assert files == {
        "run_report": str(tmp_path / "r.json"),
        "rejects": {"mapper": str(rejects)},
        "summaries": {"mapper": str(summary)},
    }


def test_records_waiting_from_earlier_runs_are_printed_with_their_reasons() -> None:
    report = build_run_report(
        target_summary(waiting_now=3, waiting={"by_reason": {"INVALID_CROSS_REFERENCE_KEY": 3}})
    )
    text = "\n".join(human_summary(report))
    assert "Waiting 3 (retried every run): INVALID_CROSS_REFERENCE_KEY 3" in text
