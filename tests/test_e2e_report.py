"""The run report through real `meltano run intercom-to-salesforce`: its figures against the
emulators' own counts, its files, and alerts sent to a webhook receiver on a loopback port.

Ground truth comes from the emulators (the Salesforce emulator's records and write counts, the
Intercom emulator's request stats and data), never from the pipeline's own files.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import threading
import typing as t
import uuid
from pathlib import Path

import pytest

from scripts.pipeline import (
    FAST_INTERCOM_ARGS,
    JOB,
    MELTANO,
    ROOT,
    Pipeline,
    RunResult,
    intercom_truth,
)

SECRETS = (
    "emulator-secret",
    "emulator-refresh-token",
    "emulator-token",
    "Bearer ",
    "hook-secret-path",
)


class Receiver:
    """A Slack-style incoming webhook on a free loopback port, keeping every JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, t.Any]] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: t.Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/hook-secret-path"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/hook-secret-path"


@pytest.fixture(scope="module")
def receiver() -> t.Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def pipe(
    installed_plugins: None, small_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> t.Iterator[Pipeline]:
    with Pipeline(
        tmp_path_factory.mktemp("e2e-report"),
        intercom_args=FAST_INTERCOM_ARGS,
        intercom_template=small_template,
    ) as p:
        yield p


@pytest.fixture(scope="module")
def first(pipe: Pipeline, receiver: Receiver) -> RunResult:
    """A full sync of the small workspace into an empty org, alerting above one reject."""
    return pipe.run(
        env={
            "TARGET_SALESFORCE_LEADS_ALERT_WEBHOOK_URL": receiver.url,
            "TARGET_SALESFORCE_LEADS_ALERT_MAX_REJECTED": "1",
        }
    )


def report_lines(output: str) -> list[str]:
    """The printed run report: its first line and the indented lines after it."""
    # Meltano prints a plugin's line as `<time> [info     ] target-salesforce-leads <line>`.
    lines = [
        line.split(" target-salesforce-leads ", 1)[1]
        for line in output.splitlines()
        if " target-salesforce-leads " in line
    ]
    lines = [
        re.sub(
            r"\s+(cmd_type|consumer|job_name|name|producer|run_id|stdio|string_id)=\S+", "", line
        ).strip(" ")
        for line in lines
    ]
    start = max(i for i, line in enumerate(lines) if line.startswith("Run report:"))
    out = [lines[start]]
    for line in lines[start + 1 :]:
        if not re.match(
            r"(Intercom|Mapper|Lead|Task|Contact|Rejected|Waiting|Salesforce|"
            r"Files|Note):? ",
            line,
        ):
            break
        out.append(line)
    return out


def printed(lines: list[str], prefix: str) -> str:
    [line] = [x for x in lines if x.startswith(prefix)]
    return line


def test_printed_figures_equal_the_emulators_counts(pipe: Pipeline, first: RunResult) -> None:
    assert first.returncode == 0, first.explain()
    lines = report_lines(first.output)
    assert len(lines) <= 12, lines
    # Conversations of people who are not in Salesforce wait: a warning, not a failure.
    assert re.match(r"Run report: (ok|warning), exit code 0, run \S+, dev, ", lines[0]), lines
    # Salesforce: every created and updated record, as the emulator counted them.
    for sobject in ("Lead", "Task", "Contact"):
        created = first.salesforce_record_writes.get(f"{sobject} created", 0)
        updated = first.salesforce_record_writes.get(f"{sobject} updated", 0)
        if not created and not updated:
            continue
        line = printed(lines, f"{sobject}: ")
        assert line.startswith(f"{sobject}: {created} created, {updated} updated, "), (
            line,
            first.salesforce_record_writes,
        )
    leads_in_org = pipe.soql("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c != null")
    assert f"Lead: {len(leads_in_org)} created" in printed(lines, "Lead: ")
    assert printed(lines, "Salesforce: ").startswith(
        f"Salesforce: {first.salesforce_calls} API calls, "
    )
    # Intercom: calls and 429s as the emulator counted them; records as its API lists them.
    throttled = first.intercom_status_counts.get("429", 0)
    intercom = printed(lines, "Intercom: ")
    assert f"{first.intercom_calls} API calls, {throttled} answered 429" in intercom, intercom
    truth = intercom_truth(pipe)
    assert f"contacts {len(truth.contacts)}," in intercom
    assert f"conversations {len(truth.conversations)}," in intercom
    # The mapper's rejects: qualifying contacts without a usable email, and conversations
    # without a person, from Intercom's own data.
    no_email = len(truth.qualifying) - len(truth.emails)
    no_person = sum(1 for person in truth.person_of.values() if person is None)
    mapper = printed(lines, "Mapper: ")
    assert mapper.endswith(
        f"{len(truth.contacts) - len(truth.qualifying)} filtered out, "
        f"{no_email + no_person} rejected"
    ), mapper
    assert printed(lines, "Files: ")
    for secret in SECRETS:
        assert secret not in "\n".join(lines)


def test_the_json_report_has_the_reasons_and_lists_existing_files(
    pipe: Pipeline, first: RunResult
) -> None:
    report = json.loads(pipe.run_report.read_text())
    assert report["problems"] == [], report["problems"]  # both summaries were of this run
    assert report["extractor"]["status"] == report["mapper"]["status"] == "ok"
    assert report["extractor"]["api_calls"] == first.intercom_calls
    assert report["salesforce"]["api_calls"] == first.salesforce_calls
    assert report["meltano"]["environment"] == "dev"
    assert report["run_id"] == first.summary["run_id"]
    # The target's summary is still written, and agrees.
    assert report["objects"] == first.summary["objects"]
    # Reasons: each with a count and an example naming a real record.
    truth = intercom_truth(pipe)
    reasons = report["rejected"]["by_reason"]
    assert reasons and sum(r["count"] for r in reasons) == report["rejected"]["total"]
    counts = [r["count"] for r in reasons]
    assert counts == sorted(counts, reverse=True)
    for r in reasons:
        assert r["example"], r
        if r["source"] == "mapper":
            stream, key = r["example"].split()
            known = truth.contacts if stream == "contacts" else truth.conversations
            assert key in known, r
    mapper_rows = [json.loads(x) for x in pipe.mapper_rejects.read_text().splitlines()]
    rejected_rows = [x for x in mapper_rows if x["kind"] == "rejected"]
    assert report["rejected"]["mapper"] == len(rejected_rows)
    # Every file named exists.
    files = report["files"]
    assert files["run_report"] == str(pipe.run_report)
    assert files["rejects"]["mapper"] == str(pipe.mapper_rejects)
    for value in files.values():
        for path in value.values() if isinstance(value, dict) else [value]:
            assert Path(path).exists(), path


def test_more_rejects_than_the_threshold_alert_the_webhook(
    pipe: Pipeline, first: RunResult, receiver: Receiver
) -> None:
    report = json.loads(pipe.run_report.read_text())
    assert report["rejected"]["total"] > 1
    assert len(receiver.bodies) == 1, receiver.bodies
    body = receiver.bodies[0]
    assert f"{report['rejected']['total']} records rejected" in body["text"]
    assert "alert_max_rejected=1" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    for secret in SECRETS:
        assert secret not in json.dumps(body)
        assert secret not in first.output
    assert report["alert"]["sent"] is True


def test_run_by_hand_writes_every_file_at_its_default_path_and_survives_a_dead_webhook(
    pipe: Pipeline,
) -> None:
    """No output path set (as a user running `meltano run` by hand): everything lands under
    output/ of the project; a webhook nobody listens on is logged, and the run succeeds."""
    run_id = str(uuid.uuid4())
    env = {k: v for k, v in pipe.env().items() if not k.endswith("_FILE")}
    env.update(
        MELTANO_RUN_ID=run_id,
        TARGET_SALESFORCE_LEADS_ALERT_WEBHOOK_URL=closed_port_url(),
        TARGET_SALESFORCE_LEADS_ALERT_MAX_WAITING_HOURS="0",
    )
    out = ROOT / "output"
    proc = subprocess.run(
        [MELTANO, "run", JOB], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    report = json.loads((out / "run-report.json").read_text())
    assert report["run_id"] == report["meltano"]["run_id"] == run_id
    tap = json.loads((out / "tap-intercom-events-summary.json").read_text())
    mapper = json.loads((out / "map-intercom-salesforce-summary.json").read_text())
    assert tap["pipeline"] == mapper["pipeline"] == f"run:{run_id}"
    assert report["problems"] == []
    assert (out / "target-salesforce-leads-summary.json").exists()
    assert (out / "waiting" / "target-salesforce-leads.jsonl").exists()
    assert (out / "problems" / "target-salesforce-leads.jsonl").exists()
    # Conversations of people who are not in Salesforce wait: the alert is due, the webhook
    # is down, the run goes on.
    assert report["waiting"]["total"] > 0
    assert report["alert"]["reasons"] and report["alert"]["sent"] is False
    assert "Could not send the alert to alert_webhook_url (could not connect)" in proc.stderr
    assert "hook-secret-path" not in proc.stderr


def test_a_failed_extractor_is_reported_and_alerted(
    make_pipeline: t.Callable[..., Pipeline], receiver: Receiver
) -> None:
    pipe = make_pipeline()
    before = len(receiver.bodies)
    result = pipe.run(
        check=False,
        env={
            "TAP_INTERCOM_EVENTS_ACCESS_TOKEN": "revoked-token-for-report-test",
            "TARGET_SALESFORCE_LEADS_ALERT_WEBHOOK_URL": receiver.url,
        },
    )
    assert result.returncode != 0
    assert result.intercom_status_counts.get("401") == 1
    report = json.loads(pipe.run_report.read_text())
    assert report["status"] == "failed"
    assert report["extractor"]["status"] == "failed" and "401" in report["extractor"]["error"]
    [body] = receiver.bodies[before:]
    assert "the extractor failed" in body["text"] and "401" in body["text"]
    assert "revoked-token-for-report-test" not in json.dumps(body) + result.output
