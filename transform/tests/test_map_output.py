"""Output schemas up front (with enums of constant fields), --schemas, and the state section."""

from __future__ import annotations

import json
import subprocess

from .map_helpers import (
    CLI,
    REPO,
    contact,
    contacts_schema,
    record,
    run_inline,
    schema,
    state,
    write_mapping,
)

STATE_KEY = "map-intercom-salesforce"


def _schemas(run) -> dict[str, dict]:
    return {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}


def test_every_output_schema_comes_with_the_first_input_schema(tmp_path):
    messages = [
        schema("admins"),
        contacts_schema(),
        record("contacts", contact("c1")),
        schema("conversations"),
        state({}),
    ]
    run = run_inline(messages, None, tmp_path)
    kinds = [(m["type"], m.get("stream")) for m in run.messages]
    # Both before the first record, Task although no conversation has arrived yet; once each.
    assert kinds[:3] == [("SCHEMA", "Lead"), ("SCHEMA", "Task"), ("RECORD", "Lead")]
    assert [k for k in kinds if k[0] == "SCHEMA"] == [("SCHEMA", "Lead"), ("SCHEMA", "Task")]
    lead = _schemas(run)["Lead"]
    assert lead["key_properties"] == ["Intercom_Contact_ID__c"]
    assert lead["schema"]["properties"]["_adopt_by_email"] == {"type": ["boolean", "null"]}


def test_constant_fields_carry_their_values_as_enum(tmp_path):
    def change(doc):
        doc["fields"]["Rating"] = "Warm"
        doc["fields"]["Origin__c"] = {"expr": 'upper(settings.lead_source) + "-" + str(2)'}
        doc["fields"]["App__c"] = {"expr": "settings.intercom_app_id"}
        doc["fields"]["Status"] = {
            "expr": '"Open" if contact.role == "lead" else settings.lead_source',
            "max_length": 3,
        }
        doc["fields"]["Stamp__c"] = {"expr": "now()", "type": "datetime"}

    lead_file = write_mapping(tmp_path, "lead", change)
    run = run_inline(
        [schema("contacts")], {"lead_mapping": str(lead_file), "lead_source": "Chat"}, tmp_path
    )
    props = _schemas(run)["Lead"]["schema"]["properties"]
    # Never null, so null is not allowed either.
    assert props["LeadSource"] == {"type": ["string"], "enum": ["Chat"]}
    assert props["Rating"]["enum"] == ["Warm"]
    assert props["Origin__c"]["enum"] == ["CHAT-2"]
    # A constant null keeps null allowed.
    assert props["App__c"] == {"type": ["string", "null"], "enum": [None]}
    # Each branch of a conditional of constants, after max_length.
    assert props["Status"]["enum"] == ["Ope", "Cha"]
    # Values that depend on the record (or the clock) have no enum.
    for name in ("Email", "Stamp__c", "Intercom_URL__c", "_adopt_by_email"):
        assert "enum" not in props[name], name
    task = _schemas(run)["Task"]["schema"]["properties"]
    assert task["Status"]["enum"] == ["Completed", "In Progress"]
    assert task["Type"]["enum"] == ["Email", "Call", "Other"]


def test_schemas_flag_prints_the_output_schemas_without_reading_stdin(tmp_path):
    reject_file = tmp_path / "rejects" / "mapper.jsonl"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"lead_source": "Webinar", "reject_file": str(reject_file)}))
    # stdin stays open and empty: a mapper reading it would never finish.
    proc = subprocess.Popen(
        [str(CLI), "--schemas", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        code = proc.wait(timeout=60)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0, err
    messages = [json.loads(line) for line in out.splitlines()]
    assert [(m["type"], m["stream"]) for m in messages] == [("SCHEMA", "Lead"), ("SCHEMA", "Task")]
    assert messages[0]["schema"]["properties"]["LeadSource"]["enum"] == ["Webinar"]
    assert not reject_file.exists()


def _fingerprints(run) -> list[str]:
    return [
        m["value"][STATE_KEY]["mapping_fingerprint"] for m in run.messages if m["type"] == "STATE"
    ]


def test_state_carries_the_mapping_fingerprint(tmp_path):
    messages = [
        state({"bookmarks": {"contacts": "A"}, "target-salesforce-leads": {"orgs": {}}}),
        record("contacts", contact("c1")),
        state({"bookmarks": {"contacts": "B"}}),
    ]
    run = run_inline(messages, None, tmp_path)
    states = [m["value"] for m in run.messages if m["type"] == "STATE"]
    assert [s["bookmarks"] for s in states] == [{"contacts": "A"}, {"contacts": "B"}]
    # Other parts' sections pass through untouched.
    assert states[0]["target-salesforce-leads"] == {"orgs": {}}
    first, second = _fingerprints(run)
    assert first == second and len(first) == 16
    assert "mapping changed" not in run.stderr

    # Same files and settings again: the same fingerprint, no warning.
    again = run_inline([state(states[-1])], None, tmp_path / "again")
    assert _fingerprints(again) == [first]
    assert "mapping changed" not in again.stderr
    # Where files are and where rejects go do not change records; comments neither.
    commented = tmp_path / "lead-commented.yml"
    commented.write_text("# a note\n" + (REPO / "transform/mappings/lead.yml").read_text())
    moved = run_inline(
        [state(states[-1])],
        {"reject_file": str(tmp_path / "elsewhere.jsonl"), "lead_mapping": str(commented)},
        tmp_path / "moved",
    )
    assert _fingerprints(moved) == [first]


def test_a_changed_mapping_is_announced_once(tmp_path):
    previous = {"bookmarks": {}, STATE_KEY: {"mapping_fingerprint": "0123456789abcdef"}}
    messages = [state(previous), record("contacts", contact("c1")), state(previous)]
    run = run_inline(messages, {"lead_source": "Chat"}, tmp_path)
    warnings = [line for line in run.stderr.splitlines() if "mapping changed" in line]
    assert len(warnings) == 1
    assert "`meltano run --full-refresh intercom-to-salesforce`" in warnings[0]
    assert "last run 0123456789abcdef" in warnings[0]
    assert "0123456789abcdef" not in _fingerprints(run)

    lead_file = write_mapping(tmp_path, "lead", lambda doc: doc["fields"].update(Rating="Hot"))
    changed = run_inline([state(previous)], {"lead_mapping": str(lead_file)}, tmp_path / "b")
    assert _fingerprints(changed) != _fingerprints(run)


def test_adopt_by_email_marks_users_only(tmp_path):
    messages = [
        record("contacts", contact("u1", "user@acme.com", role="user")),
        record("contacts", contact("l1", "lead@acme.com", role="lead")),
        state({}),
    ]
    leads = run_inline(messages, None, tmp_path).leads()
    assert (leads["u1"]["_adopt_by_email"], leads["l1"]["_adopt_by_email"]) == (True, False)
