"""The --preflight check: credentials, API access, budget and every object and field written."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import typing as t
from pathlib import Path

from .target_sf_testlib import (
    KEYS,
    LEAD_SCHEMA,
    TARGET_CLI,
    TASK_SCHEMA,
    Harness,
    lead,
    record_msg,
    state_msg,
)

# Copied at import (before any test runs): schema_msg() hands out the shared dicts, which some
# tests extend in place.
PRISTINE = {"Lead": copy.deepcopy(LEAD_SCHEMA), "Task": copy.deepcopy(TASK_SCHEMA)}


def schema_msg(stream: str) -> dict[str, t.Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": copy.deepcopy(PRISTINE[stream]),
        "key_properties": KEYS[stream],
    }


def _preflight(
    harness: Harness, stdin: str | None = None, args: t.Sequence[str] = (), **overrides: object
) -> subprocess.CompletedProcess[str]:
    path = harness.tmp / "preflight.json"
    path.write_text(json.dumps(harness.config(**overrides)))
    return subprocess.run(
        [*TARGET_CLI, "--config", str(path), "--preflight", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(msgs: list[dict[str, t.Any]]) -> str:
    return "".join(json.dumps(m) + "\n" for m in msgs)


def _mapper_schemas() -> str:
    """What `map-intercom-salesforce --schemas` prints: SCHEMA messages, LeadSource constant."""
    lead_msg = schema_msg("Lead")
    lead_msg["schema"]["properties"]["LeadSource"] = {
        "type": ["string", "null"],
        "enum": ["Intercom"],
    }
    lead_msg["schema"]["properties"]["_adopt_by_email"] = {"type": ["boolean", "null"]}
    return _lines([lead_msg, schema_msg("Task")])


def _misconfigure(harness: Harness) -> None:
    """An org where the admin has not done the README's Setup steps yet."""
    sf = harness.sf
    sf.drop_field("Lead", "Intercom_Qualification__c")
    sf.drop_field("Lead", "Intercom_Last_Seen__c")
    sf.drop_field("Task", "Intercom_URL__c")
    sf.set_picklist("Lead", "LeadSource", ["Web", "Phone Inquiry", "Other"], restricted=True)


def _fix_org(harness: Harness) -> None:
    """What the admin does after reading the preflight's fixes."""
    sf = harness.sf
    sf.add_field("Lead", "Intercom_Qualification__c", type="Text", length=255)
    sf.add_field("Lead", "Intercom_Last_Seen__c", type="DateTime")
    sf.add_field("Task", "Intercom_URL__c", type="URL", length=255)
    sf.set_picklist(
        "Lead", "LeadSource", ["Web", "Phone Inquiry", "Other", "Intercom"], restricted=True
    )


def test_preflight_passes_on_the_default_org(harness: Harness) -> None:
    proc = _preflight(harness)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"(org {harness.sf.org_id})" in out
    assert "OK    Lead: exists; Lead.Intercom_Contact_ID__c is an External ID" in out
    assert "OK    Task: exists; Task.Intercom_Conversation_ID__c is an External ID" in out
    # Without SCHEMA messages it says what it could not check, and how to give the fields.
    assert "NOTE  field list unknown for Lead, Task" in out
    assert "--schemas | target-salesforce-leads" in out
    assert out.splitlines()[-1].startswith("READY: ")
    assert harness.write_calls() == 0


def test_preflight_says_what_to_create(harness: Harness) -> None:
    proc = _preflight(
        harness,
        stream_settings={
            "Lead": {"sobject": "Lead", "external_id_field": "Missing_Id__c"},
            "Deal": {"sobject": "Deal__c", "external_id_field": "X__c"},
            "Contact": {"sobject": "Contact", "external_id_field": "Email"},
        },
    )
    assert proc.returncode == 2, proc.stdout
    out = proc.stdout
    assert "FAIL  Lead.Missing_Id__c: the upsert key Missing_Id__c does not exist" in out
    assert (
        "      fix: Setup > Object Manager > Lead > Fields & Relationships > New: "
        "Text(255) 'Missing_Id__c'"
    ) in out
    assert "tick 'Unique' and 'External ID'" in out
    assert "FAIL  Deal__c (stream Deal): the sObject Deal__c does not exist" in out
    assert "Contact.Email: the upsert key Email exists but is not marked External ID" in out
    assert out.splitlines()[-1].startswith("NOT READY: 3 problem(s)")


def test_preflight_reports_bad_credentials(harness: Harness) -> None:
    proc = _preflight(harness, refresh_token="bogus-token-123")
    assert proc.returncode == 2
    assert "FAIL  login: " in proc.stdout
    assert "TARGET_SALESFORCE_LEADS_REFRESH_TOKEN" in proc.stdout
    assert "bogus-token-123" not in proc.stdout + proc.stderr


def test_preflight_login_outage_is_not_a_configuration_verdict(harness: Harness) -> None:
    harness.sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 503, "count": 50, "path": "/services/oauth2/token"},
    )
    proc = _preflight(harness, max_retries=1)
    assert proc.returncode == 1, proc.stdout
    assert "login service failed (HTTP 503" in proc.stdout
    assert "not a credential problem" in proc.stdout


def test_schemas_from_stdin_check_every_field(harness: Harness) -> None:
    proc = _preflight(harness, stdin=_mapper_schemas())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "NOTE  fields from 2 SCHEMA message(s) on standard input: streams Lead, Task" in out
    assert "OK    Lead: 17 fields writable; Lead.Intercom_Contact_ID__c is an External ID" in out
    assert (
        "OK    Task: 9 fields writable; Task.Intercom_Conversation_ID__c is an External ID" in out
    )
    assert "field list unknown" not in out
    assert harness.write_calls() == 0


def test_misconfigured_org_then_fixed_org(harness: Harness) -> None:
    _misconfigure(harness)
    proc = _preflight(harness, stdin=_mapper_schemas())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAIL  Lead: 3 problem(s) block writing" in out
    assert (
        "FAIL  Lead.Intercom_Qualification__c: Lead has no field Intercom_Qualification__c" in out
    )
    assert (
        "fix: Setup > Object Manager > Lead > Fields & Relationships > New: Text(255) "
        "'Intercom_Qualification__c'"
    ) in out
    assert (
        "fix: Setup > Object Manager > Lead > Fields & Relationships > New: Date/Time "
        "'Intercom_Last_Seen__c'"
    ) in out
    assert (
        "FAIL  Lead.LeadSource: Lead Source is a restricted picklist without the value "
        "'Intercom'" in out
    )
    assert (
        "fix: Setup > Object Manager > Lead > Fields & Relationships > Lead Source > "
        "Values > New: Intercom"
    ) in out
    assert "FAIL  Task: 1 problem(s) block writing" in out
    assert (
        "fix: Setup > Object Manager > Activity > Fields & Relationships > New: Text(255) "
        "'Intercom_URL__c'"
    ) in out
    assert "_adopt_by_email" not in out
    assert out.splitlines()[-1].startswith("NOT READY: 4 problem(s)")

    # The describes of the misconfigured org are now in the between-runs cache (24 h) ...
    cache = Path(harness.tmp / "describe")
    assert sorted(p.name.split("-")[-1] for p in cache.glob("*.json")) == [
        "Contact.json",
        "Lead.json",
        "Task.json",
    ]
    # ... and the admin fixes the org: the very next preflight sees it.
    _fix_org(harness)
    proc = _preflight(harness, stdin=_mapper_schemas())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK    Lead: 17 fields writable" in proc.stdout
    assert "OK    Task: 9 fields writable" in proc.stdout
    assert "FAIL" not in proc.stdout
    # It refreshed the cache too, so the next run starts from the fixed org.
    cached = json.loads(next(cache.glob("*-Lead.json")).read_text())
    assert "Intercom_Qualification__c" in {f["name"] for f in cached["fields"]}


def test_type_mismatch_and_length_from_stdin(harness: Harness) -> None:
    schema = {
        "type": "object",
        "properties": {
            "Intercom_Contact_ID__c": {"type": "string"},
            "LastName": {"type": ["string", "null"], "maxLength": 80},
            "Company": {"type": ["string", "null"]},
            "Company_Size__c": {"type": ["string", "null"]},
            "Title": {"type": ["string", "null"], "maxLength": 500},
        },
    }
    msgs = [{"type": "SCHEMA", "stream": "people", "schema": schema, "key_properties": ["id"]}]
    proc = _preflight(
        harness,
        stdin=_lines(msgs),
        stream_settings={
            "people": {"sobject": "Lead", "external_id_field": "Intercom_Contact_ID__c"}
        },
    )
    assert proc.returncode == 2, proc.stdout
    out = proc.stdout
    assert "FAIL  Lead (stream people): 1 problem(s) block writing" in out
    assert (
        "FAIL  Lead.Company_Size__c: the stream sends JSON string but Company_Size__c is a "
        "Number field [INVALID_TYPE_ON_FIELD_IN_RECORD]" in out
    )
    assert "WARN  Lead.Title: the stream allows up to 500 characters but Title holds 128" in out


def test_whole_tap_output_on_stdin_writes_nothing(harness: Harness) -> None:
    msgs = [
        schema_msg("Lead"),
        record_msg("Lead", lead(1)),
        record_msg("Lead", lead(2)),
        state_msg({"bookmark": 1}),
    ]
    proc = _preflight(harness, stdin=_lines(msgs))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "on standard input: streams Lead\n" in proc.stdout
    assert "OK    Lead: 17 fields writable" in proc.stdout
    assert "field list unknown" not in proc.stdout
    assert harness.query("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c != null") == []
    assert harness.write_calls() == 0


def test_schemas_from_an_input_file(harness: Harness) -> None:
    _misconfigure(harness)
    path = harness.tmp / "schemas.jsonl"
    path.write_text(_mapper_schemas())
    proc = _preflight(harness, args=["--input", str(path)])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"on --input {path}" in proc.stdout
    assert "FAIL  Lead.Intercom_Qualification__c" in proc.stdout


def test_preflight_with_settings_from_the_environment(harness: Harness) -> None:
    """`--config ENV --preflight`, as `meltano test` runs it: every setting a variable, the
    number ones too (api_budget), which the Singer SDK alone would leave strings."""
    settings = {**harness.config(), "api_budget": 0.25}
    env = {
        f"TARGET_SALESFORCE_LEADS_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
        for k, v in settings.items()
        if v is not None
    }
    run = subprocess.run(
        [*TARGET_CLI, "--config", "ENV", "--preflight"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    assert "(api_budget=0.25)" in run.stdout
