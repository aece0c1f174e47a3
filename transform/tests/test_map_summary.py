"""The mapper's summary file: records in and out, rejects by reason with an example, status."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .map_helpers import (
    contact,
    contacts_schema,
    conversation,
    conversations_schema,
    record,
    run_cli,
    state,
)


def test_summary_counts_in_out_and_reasons(tmp_path: Path) -> None:
    messages = [
        contacts_schema(),
        record("contacts", contact("c1", email="a@acme.com")),
        record("contacts", contact("c2", email=None)),
        record("contacts", contact("c3", email=None)),
        record("contacts", contact("c4", email="d@acme.com", qualification=None)),
        conversations_schema(),
        record("conversations", conversation("v1", ["c1"])),
        record("conversations", conversation("v2", [])),
        state({"s": 1}),
    ]
    run = run_cli(messages, None, tmp_path, process=True)  # its parent: this process
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["error"] is None
    assert summary["records_in"] == {"contacts": 4, "conversations": 2}
    assert summary["records_out"] == {"Lead": 1, "Task": 1}
    assert summary["rejected"] == 3 and summary["filtered"] == 1
    top = summary["rejected_by_reason"][0]
    assert (top["stream"], top["count"], top["example"]) == ("Lead", 2, "contacts c2")
    assert "no email" in top["reason"]
    assert [r["count"] for r in summary["filtered_by_reason"]] == [1]
    # Its parent is this test process: the key the target of the same pipeline computes.
    assert summary["pipeline"].startswith(f"ppid:{os.getpid()}:")
    assert summary["files"]["rejects"] == str(tmp_path / "rejects.jsonl")


def test_defaults_apply_to_empty_file_settings(tmp_path: Path) -> None:
    # Meltano passes "" for an unset ${MAPPER_REJECT_FILE}: the defaults under output/ apply.
    config = {"reject_file": "", "problems_file": "", "summary_file": ""}
    messages = [contacts_schema(), record("contacts", contact("c2", email=None)), state({})]
    run = run_cli(messages, config, tmp_path, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "output" / "rejects" / "map-intercom-salesforce.jsonl").exists()
    assert (tmp_path / "output" / "problems" / "map-intercom-salesforce.jsonl").exists()
    summary = json.loads((tmp_path / "output" / "map-intercom-salesforce-summary.json").read_text())
    assert summary["rejected"] == 1
