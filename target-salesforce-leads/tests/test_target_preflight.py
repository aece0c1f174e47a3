"""The --preflight check."""

from __future__ import annotations

import json
import subprocess

from target_sf_testlib import TARGET_CLI, Harness


def _preflight(harness: Harness, **overrides: object) -> subprocess.CompletedProcess[str]:
    path = harness.tmp / "preflight.json"
    path.write_text(json.dumps(harness.config(**overrides)))
    return subprocess.run([*TARGET_CLI, "--config", str(path), "--preflight"],
                          capture_output=True, text=True, timeout=120)


def test_preflight_passes_on_the_default_org(harness: Harness) -> None:
    proc = _preflight(harness)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lead.Intercom_Contact_ID__c is an External ID" in proc.stdout
    assert "Task.Intercom_Conversation_ID__c is an External ID" in proc.stdout
    assert harness.write_calls() == 0


def test_preflight_says_what_to_create(harness: Harness) -> None:
    proc = _preflight(harness, stream_settings={
        "Lead": {"sobject": "Lead", "external_id_field": "Missing_Id__c"},
        "Deal": {"sobject": "Deal__c", "external_id_field": "X__c"},
        "Contact": {"sobject": "Contact", "external_id_field": "Email"},
    })
    assert proc.returncode == 1, proc.stdout
    assert "Lead.Missing_Id__c does not exist" in proc.stdout
    assert "tick 'Unique' and 'External ID'" in proc.stdout
    assert "sObject Deal__c" in proc.stdout
    assert "Contact.Email is not marked External ID" in proc.stdout


def test_preflight_reports_bad_credentials(harness: Harness) -> None:
    proc = _preflight(harness, refresh_token="bogus-token-123")
    assert proc.returncode == 2
    assert "login" in proc.stdout
    assert "bogus-token-123" not in proc.stdout
