"""The three use cases, through real `meltano run intercom-to-salesforce` against both emulators.

One seeded workspace goes through four runs, in order (the tests of this module depend on that
order, as a user's schedule does): a full sync, an incremental run after simulated activity and a
converted Lead, a run with nothing changed, and a run after `meltano state clear`.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from scripts.pipeline import (
    Pipeline,
    RunResult,
    account_for_everything,
    all_intercom_contacts,
    all_intercom_conversations,
    intercom_api,
    qualifies,
    read_jsonl,
)

AWKWARD_NAMES = {
    "name_chinese": (None, "王伟"),
    "name_japanese": ("太郎", "山田"),
    "name_korean": (None, "김민준"),
    "name_arabic": ("محمد", "الأحمد"),
    "name_cyrillic": ("Анастасия", "Иванова"),
    "name_greek": ("Γιώργος", "Παπαδόπουλος"),
    "name_accented": ("José", "Núñez-García"),
    "name_one_word": (None, "Madonna"),
    "name_missing": (None, "no.name"),
}


def by_intercom_id(rows: list[dict[str, Any]], field: str = "Intercom_Contact_ID__c") -> dict:
    return {row[field]: row for row in rows if row.get(field)}


LEAD_FIELDS = (
    "Id, FirstName, LastName, Company, Email, Phone, Title, LeadSource, Company_Size__c, "
    "Intercom_Contact_ID__c, Intercom_Qualification__c, Intercom_Last_Seen__c, "
    "Intercom_Sessions__c, Intercom_Event_Count__c, Intercom_Engagement_Score__c, IsConverted, "
    "ConvertedContactId, SystemModstamp"
)
TASK_FIELDS = (
    "Id, Subject, Description, Status, Priority, ActivityDate, WhoId, "
    "Intercom_Conversation_ID__c, SystemModstamp"
)


def leads(pipe: Pipeline) -> list[dict[str, Any]]:
    return pipe.soql(f"SELECT {LEAD_FIELDS} FROM Lead")


def tasks(pipe: Pipeline) -> list[dict[str, Any]]:
    return pipe.soql(f"SELECT {TASK_FIELDS} FROM Task")


def contacts_sf(pipe: Pipeline) -> list[dict[str, Any]]:
    return pipe.soql("SELECT Id, Email, Title, Intercom_Contact_ID__c, SystemModstamp FROM Contact")


def plain(text: str | None) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text or "")).split())


@pytest.fixture(scope="module")
def world(pipeline: Pipeline) -> dict[str, Any]:
    """Run 1 on a workspace whose awkward people have all reached hand-to-sales."""
    manifest = pipeline.intercom.admin("GET", "seed/manifest")["manifest"]
    awkward = {
        cat: ids
        for cat, ids in manifest.items()
        if cat.startswith(("name_", "email_", "long_", "many_"))
    }
    for ids in awkward.values():
        for cid in ids:
            pipeline.intercom.admin("POST", f"contacts/{cid}/qualify")
    # The org already knows John Smith as a Contact, and José as a Lead typed in by hand.
    existing_contact = pipeline.salesforce.admin(
        "POST",
        "records/Contact",
        {
            "records": [
                {"FirstName": "John", "LastName": "Smith", "Email": "john.smith@example.com"}
            ]
        },
    )
    pipeline.salesforce.admin(
        "POST",
        "records/Lead",
        {
            "records": [
                {
                    "FirstName": "Jose",
                    "LastName": "Nunez",
                    "Company": "Typed By Hand",
                    "Email": "jose.nunez@example.com",
                }
            ]
        },
    )
    first = pipeline.run()
    return {
        "manifest": manifest,
        "awkward": awkward,
        "first": first,
        "existing_contact": existing_contact,
        "contacts": {c["id"]: c for c in all_intercom_contacts(pipeline)},
    }


def test_first_run_succeeds_and_reports_every_object(world: dict[str, Any]) -> None:
    first: RunResult = world["first"]
    assert first.returncode == 0
    objects = first.summary["objects"]
    assert objects["Lead"]["created"] > 0 and objects["Task"]["created"] > 0
    assert first.intercom_calls > 0 and first.salesforce_calls > 0


def test_use_case_1_qualified_contacts_become_leads_with_their_fields(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    contacts = world["contacts"]
    sf_leads = by_intercom_id(leads(pipeline))
    sf_contacts = by_intercom_id(contacts_sf(pipeline))
    emails_seen: dict[str, str] = {}
    checked = 0
    for cid, contact in contacts.items():
        email = (contact.get("email") or "").strip().lower()
        if not qualifies(pipeline, contact) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            assert cid not in sf_leads, f"{cid} should not be a Lead"
            continue
        if cid in sf_contacts:
            continue
        if cid not in sf_leads:  # only the second person with one email may be missing
            assert email in emails_seen or any(
                c.get("email", "").strip().lower() == email and o in sf_leads
                for o, c in contacts.items()
                if o != cid
            ), f"{cid} has no Lead"
            continue
        assert email not in emails_seen, f"two Leads for {email}"
        emails_seen[email] = cid
        lead = sf_leads[cid]
        custom = contact.get("custom_attributes") or {}
        assert lead["Email"] == email
        assert lead["LeadSource"] == "Intercom"
        assert lead["LastName"]
        assert lead["Company"]
        assert lead["Phone"] == (contact.get("phone") or None)
        assert lead["Title"] == ((custom.get("job_title") or "").strip()[:128] or None)
        assert lead["Intercom_Qualification__c"] == custom.get("qualification")
        assert lead["Intercom_Sessions__c"] == custom.get("session_count")
        assert 0 <= lead["Intercom_Engagement_Score__c"] <= 100
        checked += 1
    assert checked >= 20


def test_awkward_names_are_split_as_salesforce_needs(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    sf_leads = by_intercom_id(leads(pipeline))
    for category, (first, last) in AWKWARD_NAMES.items():
        for cid in world["awkward"].get(category, []):
            lead = sf_leads[cid]
            assert (lead["FirstName"], lead["LastName"]) == (first, last), category
    for cid in world["awkward"]["long_values"]:
        lead = sf_leads[cid]
        assert lead["FirstName"] == "Maximiliana"
        assert 0 < len(lead["LastName"]) <= 80 and len(lead["Title"]) <= 128


def test_people_without_usable_email_are_rejected_with_the_reason(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    rejects = {
        r["key"]: r for r in read_jsonl(pipeline.mapper_rejects) if r.get("kind") == "rejected"
    }
    for cid in world["awkward"]["email_missing"]:
        assert rejects[cid]["reason"] == "no email; cannot match or create a Lead"
    for cid in world["awkward"]["email_malformed"]:
        assert "malformed email" in rejects[cid]["reason"]


def test_existing_contact_is_updated_instead_of_creating_a_lead(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    [john] = world["awkward"]["email_uppercase"]
    sf_contacts = by_intercom_id(contacts_sf(pipeline))
    assert sf_contacts[john]["Email"] == "john.smith@example.com"
    assert not [lead for lead in leads(pipeline) if lead["Email"] == "john.smith@example.com"]


def test_hand_typed_lead_is_adopted_not_duplicated(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    [jose] = world["awkward"]["name_accented"]
    matching = [lead for lead in leads(pipeline) if lead["Email"] == "jose.nunez@example.com"]
    assert len(matching) == 1
    assert matching[0]["Intercom_Contact_ID__c"] == jose


def test_duplicate_emails_never_make_two_leads(pipeline: Pipeline, world: dict[str, Any]) -> None:
    shared = [lead for lead in leads(pipeline) if lead["Email"] == "shared.inbox@example.com"]
    assert len(shared) == 1
    other = set(world["awkward"]["email_duplicate"]) - {shared[0]["Intercom_Contact_ID__c"]}
    rejected = {r["external_id"] for r in read_jsonl(pipeline.target_rejects)}
    assert other <= rejected


def test_use_case_2_conversations_become_tasks_on_the_person(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    sf_tasks = by_intercom_id(tasks(pipeline), "Intercom_Conversation_ID__c")
    people = {
        row["Intercom_Contact_ID__c"]: row["Id"]
        for row in leads(pipeline) + contacts_sf(pipeline)
        if row.get("Intercom_Contact_ID__c") and not row.get("IsConverted")
    }
    conversations = all_intercom_conversations(pipeline)
    waiting = {w["external_id"]: w for w in pipeline.waiting_in_state() if w["stream"] == "Task"}
    linked = 0
    for conv in conversations:
        contact_ids = [c["id"] for c in conv["contacts"]["contacts"]]
        if not contact_ids or contact_ids[0] not in people:
            assert conv["id"] not in sf_tasks
            if contact_ids:  # the person may become a Lead later: the Task waits, with why
                assert waiting[conv["id"]]["error_code"] == "INVALID_CROSS_REFERENCE_KEY"
            continue
        assert conv["id"] not in waiting
        task = sf_tasks[conv["id"]]
        assert task["WhoId"] == people[contact_ids[0]]
        assert task["Subject"].startswith("Intercom: ")
        assert task["Status"] == ("Completed" if conv["state"] == "closed" else "In Progress")
        full = intercom_api(pipeline, "GET", f"/conversations/{conv['id']}")
        bodies = [
            plain(p.get("body"))
            for p in full["conversation_parts"]["conversation_parts"]
            if plain(p.get("body"))
        ]
        description = task["Description"]
        # The most recent messages always survive the 32,000-character cap.
        positions = [description.find(body[:60]) for body in bodies[-5:]]
        assert all(pos >= 0 for pos in positions), conv["id"]
        assert positions == sorted(positions), "transcript is in order"
        assert len(description) <= 32000
        linked += 1
    assert linked > 0


def test_big_conversations_say_they_were_truncated(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    sf_tasks = by_intercom_id(tasks(pipeline), "Intercom_Conversation_ID__c")
    big = [sf_tasks[c] for c in world["manifest"]["big_conversations"] if c in sf_tasks]
    for task in big:
        assert len(task["Description"]) <= 32000
        assert "500" in task["Description"] or "cut" in task["Description"].lower()


def test_use_case_3_engagement_fields_match_intercom(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    sf_leads = by_intercom_id(leads(pipeline))
    checked = 0
    for cid, lead in list(sf_leads.items())[:15]:
        summary = intercom_api(
            pipeline, "GET", f"/events?type=user&intercom_user_id={cid}&summary=true"
        )
        events = summary.get("events", [])
        expected = sum(int(e.get("count", 0)) for e in events)
        assert (lead["Intercom_Event_Count__c"] or 0) == expected, cid
        checked += 1
    assert checked > 0


def test_every_contact_and_conversation_is_accounted_for(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    """Each is in Salesforce, rejected or waiting, with its reason, and in one place only."""
    account_for_everything(pipeline).check()
    for row in read_jsonl(pipeline.mapper_rejects):
        assert row["reason"]
    for row in read_jsonl(pipeline.target_rejects):
        assert row["error_code"] and row["message"]


def test_waiting_records_are_kept_in_meltano_state(
    pipeline: Pipeline, world: dict[str, Any]
) -> None:
    orgs = pipeline.target_state()
    assert list(orgs) == [pipeline.salesforce.org_id]
    [section] = orgs.values()
    assert section["generation"]
    in_state = {(w["stream"], w["external_id"]) for w in section["waiting"]}
    assert in_state == {(w["stream"], w["external_id"]) for w in pipeline.waiting()}
    assert section["waiting_count"] == len(in_state) > 0
    summary = world["first"].summary
    assert summary["waiting"]["total"] == len(in_state)
    assert summary["status"] == "warning"


@pytest.fixture(scope="module")
def second(pipeline: Pipeline, world: dict[str, Any]) -> dict[str, Any]:
    """Run 2, after simulated Intercom activity and a Lead converted in Salesforce."""
    before_leads = {r["Id"]: r["SystemModstamp"] for r in leads(pipeline)}
    before_tasks = {r["Id"]: r["SystemModstamp"] for r in tasks(pipeline)}
    quinn = world["manifest"]["hand_to_sales_lead"][0]
    lead_id = by_intercom_id(leads(pipeline))[quinn]["Id"]
    converted = pipeline.salesforce.admin("POST", f"leads/{lead_id}/convert")
    pipeline.intercom.admin("POST", "clock", {"advance": 3600})
    pipeline.intercom.admin(
        "PATCH",
        f"contacts/{quinn}",
        {
            "custom_attributes": {
                **world["contacts"][quinn]["custom_attributes"],
                "job_title": "VP Sales",
            }
        },
    )
    touched = pipeline.intercom.admin("POST", "simulate", {"steps": 30, "seed": 5})
    result = pipeline.run()
    return {
        "result": result,
        "before_leads": before_leads,
        "before_tasks": before_tasks,
        "touched": touched,
        "quinn": quinn,
        "converted": converted,
    }


def test_incremental_run_writes_only_what_changed(
    pipeline: Pipeline, second: dict[str, Any]
) -> None:
    result: RunResult = second["result"]
    assert result.returncode == 0
    touched_contacts = set(second["touched"]["contacts"]) | {second["quinn"]}
    touched_conversations = set(second["touched"]["conversations"])
    changed_leads = {
        r["Intercom_Contact_ID__c"]
        for r in leads(pipeline)
        if r["Id"] in second["before_leads"]
        and r["SystemModstamp"] != second["before_leads"][r["Id"]]
    }
    changed_tasks = {
        r["Intercom_Conversation_ID__c"]
        for r in tasks(pipeline)
        if r["Id"] in second["before_tasks"]
        and r["SystemModstamp"] != second["before_tasks"][r["Id"]]
    }
    assert changed_leads <= touched_contacts
    assert changed_tasks <= touched_conversations
    # Touched people who qualify are up to date in Salesforce.
    now_contacts = {c["id"]: c for c in all_intercom_contacts(pipeline)}
    sf_leads = by_intercom_id([r for r in leads(pipeline) if not r["IsConverted"]])
    for cid in touched_contacts & set(sf_leads):
        custom = now_contacts[cid].get("custom_attributes") or {}
        assert sf_leads[cid]["Intercom_Qualification__c"] == custom.get("qualification")
        assert sf_leads[cid]["Intercom_Sessions__c"] == custom.get("session_count")
    lead_counts = result.summary["objects"]["Lead"]
    assert lead_counts["created"] + lead_counts["updated"] <= len(touched_contacts)


def test_converted_lead_is_followed_to_its_contact(
    pipeline: Pipeline, second: dict[str, Any]
) -> None:
    quinn = second["quinn"]
    contact = pipeline.soql(
        f"SELECT Id, Title FROM Contact WHERE Id = '{second['converted']['contact_id']}'"
    )[0]
    assert contact["Title"] == "VP Sales"
    open_leads = [
        r for r in leads(pipeline) if r["Intercom_Contact_ID__c"] == quinn and not r["IsConverted"]
    ]
    assert not open_leads


def test_running_again_changes_nothing_and_writes_nothing(
    pipeline: Pipeline, second: dict[str, Any]
) -> None:
    before = {r["Id"]: r["SystemModstamp"] for r in leads(pipeline) + tasks(pipeline)}
    third = pipeline.run()
    assert third.returncode == 0
    assert third.salesforce_record_writes == {}, third.salesforce_record_writes
    assert third.salesforce_write_calls == 0, third.salesforce_by_endpoint
    after = {r["Id"]: r["SystemModstamp"] for r in leads(pipeline) + tasks(pipeline)}
    assert after == before


def test_state_has_bookmarks_and_clearing_it_creates_no_duplicates(
    pipeline: Pipeline, second: dict[str, Any]
) -> None:
    state = pipeline.state()
    bookmarks = state["singer_state"]["bookmarks"]
    assert bookmarks["contacts"]["replication_key_value"]
    assert bookmarks["conversations"]["replication_key_value"]
    lead_ids = sorted(r["Intercom_Contact_ID__c"] for r in leads(pipeline))
    task_ids = sorted(r["Intercom_Conversation_ID__c"] for r in tasks(pipeline))
    pipeline.meltano("state", "clear", "--force", pipeline.state_id())
    again = pipeline.run()
    assert again.returncode == 0
    assert sorted(r["Intercom_Contact_ID__c"] for r in leads(pipeline)) == lead_ids
    assert sorted(r["Intercom_Conversation_ID__c"] for r in tasks(pipeline)) == task_ids
    assert len(set(lead_ids)) == len(lead_ids)
    # Without the target's state section every record is sent again (hashes of an unknown
    # generation are not trusted): updates in place, never a new record.
    created = {k: n for k, n in again.salesforce_record_writes.items() if k.endswith("created")}
    assert created == {}
    account_for_everything(pipeline).check()
