"""Settings and mapping files: where they are found, edits that work, and clear errors."""

from __future__ import annotations

import shutil

import pytest
from mapper_intercom_salesforce.mapper import IntercomSalesforceMapper
from mapper_intercom_salesforce.mapping import MappingError

from .map_helpers import MAPPINGS, contact, conversation, record, state, write_mapping

QUALIFIED = [record("contacts", contact("c1", "pat@acme.com", "Pat Doe")), state({})]


def test_custom_fields_types_and_defaults(run_mapper, tmp_path):
    def change(doc):
        fields = doc["fields"]
        fields["LeadSource"] = "Chat"  # shorthand constant
        fields["Title"] = {"path": "custom_attributes.job_title", "default": "Unknown role"}
        fields["Description"] = {"expr": 'f"{upper(name.last)} / {domain_of(email)}"'}
        fields["Seats__c"] = {"path": "custom_attributes.seats", "type": "integer"}
        fields["Trial__c"] = {"expr": '"trial" in tags', "type": "boolean"}
        fields["Signed_Up__c"] = {"path": "created_at", "type": "date"}
        doc["variables"]["shout"] = "upper(email)"

    lead_file = write_mapping(tmp_path, "lead", change)
    messages = [
        record(
            "contacts",
            contact("c1", "pat@acme.com", tags=["trial"], custom_attributes={"seats": "12"}),
        ),
        state({}),
    ]
    run = run_mapper(messages, {"lead_mapping": str(lead_file)})
    assert run.returncode == 0, run.stderr
    lead = run.leads()["c1"]
    assert lead["LeadSource"] == "Chat"
    assert lead["Title"] == "Unknown role"
    assert lead["Description"] == "DOE / acme.com"
    assert (lead["Seats__c"], lead["Trial__c"], lead["Signed_Up__c"]) == (12, True, "2026-10-01")
    lead_schema = next(m for m in run.messages if m["type"] == "SCHEMA")["schema"]
    assert lead_schema["properties"]["Seats__c"] == {"type": ["integer", "null"]}
    assert lead_schema["properties"]["Signed_Up__c"]["format"] == "date"


def test_mappings_dir_setting(run_mapper, tmp_path):
    folder = tmp_path / "my-mappings"
    folder.mkdir()
    shutil.copy(MAPPINGS / "task.yml", folder / "task.yml")
    text = (MAPPINGS / "lead.yml").read_text("utf-8")
    (folder / "lead.yml").write_text(text.replace("stream: Lead", "stream: Contact"), "utf-8")
    run = run_mapper(QUALIFIED, {"mappings_dir": str(folder)})
    assert run.returncode == 0, run.stderr
    assert [m["stream"] for m in run.messages if m["type"] == "RECORD"] == ["Contact"]


def test_bundled_mappings_when_default_folder_is_absent(run_mapper, tmp_path):
    run = run_mapper(QUALIFIED, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert list(run.leads()) == ["c1"]
    assert "using the bundled" in run.stderr


def test_missing_mapping_file_named_in_settings(run_mapper, tmp_path):
    run = run_mapper(QUALIFIED, {"task_mapping": str(tmp_path / "nope.yml")})
    assert run.returncode != 0
    assert not run.messages
    assert "nope.yml cannot be read" in run.stderr
    assert "task_mapping" in run.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda doc: doc["fields"].update(FirstName={"expr": "name.first +"}),
            ["field 'FirstName'", "expression 'name.first +' is not valid"],
        ),
        (
            lambda doc: doc["fields"].update(Title={"expr": "upper(job_titel)"}),
            ["field 'Title'", "unknown name(s) job_titel", "available here: companies, company,"],
        ),
        (
            lambda doc: doc["fields"].update(Title={"expr": "shout(email)"}),
            ["field 'Title'", "unknown name(s) shout", "functions: abs, coalesce"],
        ),
        (
            lambda doc: doc["fields"].update(Title={"expr": "(lambda: 1)()"}),
            ["field 'Title'", "uses Lambda, which mapping expressions do not support"],
        ),
        (
            lambda doc: doc["fields"].update(Phone={"path": "phone", "expr": "email"}),
            ["field 'Phone'", "give exactly one of 'value', 'path' or 'expr'"],
        ),
        (
            lambda doc: doc["fields"].update(Phone={"path": "phone", "type": "text"}),
            ["field 'Phone'", "type 'text' is not one of"],
        ),
        (
            lambda doc: doc.update(filter={"tag": "x", "role": "lead"}),
            ["filter", "needs exactly one of"],
        ),
        (
            lambda doc: doc.update(
                filter={"any": [{"custom_attribute": "q", "equals": 1, "in": [1]}]}
            ),
            ["filter.any[0]", "use only one of"],
        ),
        (
            lambda doc: doc["reject"].append({"when": "not email"}),
            ["reject[3]", "exactly 'when' (expression) and 'reason' (text)"],
        ),
        (
            lambda doc: doc["variables"].update(
                {"email": "normalize_email(contact.email)", "x": "y"}
            ),
            ["variable 'x'", "unknown name(s) y"],
        ),
        (lambda doc: doc.update(key="Email__c"), ["key", "'Email__c' is not among the fields"]),
        (
            lambda doc: doc["variables"].update(contact="contact.email"),
            ["variable 'contact'", "provided by the mapper"],
        ),
        (lambda doc: doc.update(fields_typo={}), ["top level", "unknown key(s) fields_typo"]),
    ],
)
def test_bad_mapping_file_is_explained(tmp_path, change, expected):
    # In-process (same start-up code as the CLI) to keep the suite fast; the CLI's rendering
    # of these errors is covered by test_every_problem_is_reported_at_once.
    lead_file = write_mapping(tmp_path, "lead", change)
    with pytest.raises(MappingError) as caught:
        IntercomSalesforceMapper(config={"lead_mapping": str(lead_file)})
    summary, *problems = caught.value.errors
    assert summary.startswith(f"Mapping file {lead_file} has {len(problems)} problem(s)")
    assert "transform/README.md" in summary
    assert any(
        line.startswith(f"{lead_file}: ") and all(part in line for part in expected)
        for line in problems
    ), problems


def test_every_problem_is_reported_at_once(run_mapper, tmp_path):
    def change(doc):
        doc["fields"]["FirstName"] = {"expr": "nam.first"}
        doc["fields"]["LastName"] = {"expr": "name.last +"}

    lead_file = write_mapping(tmp_path, "lead", change)
    # Its own process: what a person sees of a configuration error, and the exit code.
    run = run_mapper(QUALIFIED, {"lead_mapping": str(lead_file)}, process=True)
    assert run.returncode != 0
    assert not run.messages
    assert f"Mapping file {lead_file} has 2 problem(s)" in run.stderr
    assert "transform/README.md" in run.stderr
    assert "field 'FirstName'" in run.stderr and "field 'LastName'" in run.stderr


def test_invalid_yaml_is_explained(run_mapper, tmp_path):
    broken = tmp_path / "lead.yml"
    broken.write_text("stream: Lead\nfields: [unclosed\n", "utf-8")
    run = run_mapper(QUALIFIED, {"lead_mapping": str(broken)})
    assert run.returncode != 0
    assert f"Mapping file {broken} is not valid YAML" in run.stderr


def test_mapping_failure_rejects_the_record_withholds_state_and_exits_2(run_mapper, tmp_path):
    def change(doc):
        doc["fields"]["Company_Size__c"] = {"expr": "100 / company_size", "type": "integer"}

    lead_file = write_mapping(tmp_path, "lead", change)
    messages = [
        record("contacts", contact("c0", "z@acme.com", custom_attributes={"company_size": 10})),
        state({"bookmarks": {"contacts": "A"}}),
        record("contacts", contact("c1", "a@acme.com", custom_attributes={"company_size": 0})),
        record("contacts", contact("c2", "b@acme.com", custom_attributes={"company_size": 50})),
        state({"bookmarks": {"contacts": "B"}}),
        record("contacts", contact("c3", "c@acme.com", custom_attributes={"company_size": 25})),
        state({"bookmarks": {"contacts": "C"}}),
    ]
    run = run_mapper(messages, {"lead_mapping": str(lead_file)}, process=True)
    # A configuration error, not bad data: the run fails and the state stays where it was
    # before the failed record, so the fixed mapping reads it again.
    assert run.returncode == 2, run.stderr
    assert {k: v["Company_Size__c"] for k, v in run.leads().items()} == {"c0": 10, "c2": 2, "c3": 4}
    states = [m["value"]["bookmarks"] for m in run.messages if m["type"] == "STATE"]
    assert states == [{"contacts": "A"}]
    rejected = run.rejected("rejected")
    assert list(rejected) == ["c1"]
    reason = rejected["c1"]["reason"]
    assert "field 'Company_Size__c'" in reason and "division by zero" in reason
    assert "The mapping failed for 1 record(s)" in run.stderr
    assert "no `meltano state clear` needed" in run.stderr


def test_task_filter(run_mapper, tmp_path):
    def change(doc):
        doc["filter"] = {"not": {"tag": "spam"}}

    task_file = write_mapping(tmp_path, "task", change)
    spam = conversation("v1", tags={"type": "tag.list", "tags": [{"id": "1", "name": "Spam"}]})
    messages = [record("conversations", spam), record("conversations", conversation("v2"))]
    run = run_mapper(messages, {"task_mapping": str(task_file)})
    assert list(run.tasks()) == ["v2"]
    assert run.rejected("filtered")["v1"]["stream"] == "Task"


def test_now_is_flagged(run_mapper, tmp_path):
    def change(doc):
        doc["fields"]["Synced_At__c"] = {"expr": "now()", "type": "datetime"}

    lead_file = write_mapping(tmp_path, "lead", change)
    run = run_mapper(QUALIFIED, {"lead_mapping": str(lead_file)})
    assert run.returncode == 0, run.stderr
    assert "calls now()" in run.stderr
    assert run.leads()["c1"]["Synced_At__c"].endswith("Z")


def test_about_lists_settings():
    import subprocess

    from .map_helpers import CLI

    about = subprocess.run(
        [str(CLI), "--about", "--format", "json"], capture_output=True, text=True, check=True
    ).stdout
    for setting in ("mappings_dir", "lead_mapping", "task_mapping", "reject_file", "timezone"):
        assert f'"{setting}"' in about
