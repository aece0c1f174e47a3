"""Lead smarts: Contacts matched by email, converted Leads, adoption, no duplicate Leads, Tasks."""

from __future__ import annotations

import pytest

from .target_sf_testlib import Harness, lead, lead_messages, record_msg, schema_msg, state_msg


def test_email_of_a_contact_updates_that_contact(harness: Harness) -> None:
    [cid] = harness.insert("Contact", [{"LastName": "Known", "Email": "Known@Example.com"}])
    result = harness.run(
        lead_messages(
            [
                lead(1, Email="known@example.com", Title="VP", Company="Acme", LastName="Known"),
                lead(2),
            ]
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.summary["objects"]["Contact"]["updated"] == 1
    assert result.summary["objects"]["Lead"]["created"] == 1
    result.assert_accounted("Lead", 2)
    contact = harness.query(
        f"SELECT Title, Intercom_Contact_ID__c FROM Contact WHERE Id = '{cid}'"
    )[0]
    assert contact["Title"] == "VP"
    assert contact["Intercom_Contact_ID__c"] == "ic_1"
    assert not harness.query("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_1'")
    # Sent again with a change: still the Contact, found by its external id now.
    again = harness.run(lead_messages([lead(1, Email="known@example.com", Title="CEO")]))
    assert again.summary["objects"]["Contact"]["updated"] == 1
    assert harness.query(f"SELECT Title FROM Contact WHERE Id = '{cid}'")[0]["Title"] == "CEO"
    assert len(harness.query("SELECT Id FROM Lead")) == 1


def test_converted_lead_is_followed_to_its_contact(harness: Harness) -> None:
    harness.run(lead_messages([lead(5)]))
    [row] = harness.query("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_5'")
    converted = harness.sf.admin("POST", f"leads/{row['Id']}/convert", {})
    result = harness.run(lead_messages([lead(5, Title="Buyer")]))
    assert result.returncode == 0, result.stderr
    assert result.summary["objects"]["Contact"]["updated"] == 1, result.summary
    assert result.stream("Lead").get("rejected") == 0
    contact = harness.query(f"SELECT Title FROM Contact WHERE Id = '{converted['contact_id']}'")[0]
    assert contact["Title"] == "Buyer"


def test_lead_without_external_id_is_adopted(harness: Harness) -> None:
    [lid] = harness.insert(
        "Lead", [{"LastName": "Manual", "Company": "Co", "Email": "manual@example.com"}]
    )
    result = harness.run(lead_messages([lead(9, Email="MANUAL@example.com")]))
    assert result.summary["objects"]["Lead"]["updated"] == 1, result.summary
    rows = harness.query("SELECT Id, Intercom_Contact_ID__c FROM Lead")
    assert rows == [{**rows[0], "Id": rows[0]["Id"]}] and len(rows) == 1
    assert rows[0]["Intercom_Contact_ID__c"] == "ic_9"
    assert rows[0]["Id"][:15] == lid[:15]


def test_lead_holding_email_for_another_person_is_never_duplicated(harness: Harness) -> None:
    harness.run(lead_messages([lead(1, Email="shared@example.com")]))
    result = harness.run(lead_messages([lead(2, Email="shared@example.com"), lead(3)]))
    assert result.stream("Lead")["rejected"] == 1
    assert result.stream("Lead")["created"] == 1
    result.assert_accounted("Lead", 2)
    [rej] = result.rejects
    assert rej["external_id"] == "ic_2"
    assert rej["error_code"] == "DUPLICATES_DETECTED"
    assert "ic_1" in rej["message"]
    assert rej["record"]["Email"] == "shared@example.com"
    assert len(harness.query("SELECT Id FROM Lead WHERE Email = 'shared@example.com'")) == 1


def task(i: int, who: str | None, **extra: object) -> dict:
    rec = {
        "Intercom_Conversation_ID__c": f"conv_{i}",
        "Subject": f"Conversation {i}",
        "Status": "Completed",
        "ActivityDate": "2026-11-24",
    }
    if who is not None:
        rec["Who"] = {"Intercom_Contact_ID__c": who}
    rec.update(extra)
    return rec


def test_tasks_link_to_lead_contact_converted_or_are_rejected(harness: Harness) -> None:
    [cid] = harness.insert("Contact", [{"LastName": "C", "Intercom_Contact_ID__c": "ic_c"}])
    harness.run(lead_messages([lead("conv")]))
    [conv_lead] = harness.query("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_conv'")
    converted = harness.sf.admin("POST", f"leads/{conv_lead['Id']}/convert", {})
    # Leads and Tasks in one run, Task schema first: the new Lead must be written before the task.
    msgs = [
        schema_msg("Task"),
        schema_msg("Lead"),
        record_msg("Lead", lead("new")),
        record_msg("Task", task(1, "ic_new")),
        record_msg("Task", task(2, "ic_c")),
        record_msg("Task", task(3, "ic_conv")),
        record_msg("Task", task(4, "ic_nobody")),
        state_msg({"done": True}),
    ]
    result = harness.run(msgs)
    assert result.returncode == 0, result.stderr
    result.assert_accounted("Task", 4)
    assert result.stream("Task")["created"] == 3, result.summary
    # The Task's person is not in Salesforce (yet): it waits in the state, nothing is rejected.
    assert result.stream("Task")["waiting"] == 1 and result.rejects == []
    [entry] = result.waiting().entries.values()
    assert entry.external_id == "conv_4"
    assert entry.code == "INVALID_CROSS_REFERENCE_KEY"
    assert "ic_nobody" in entry.message
    [new_lead] = harness.query("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_new'")
    who = {
        r["Intercom_Conversation_ID__c"]: r["WhoId"]
        for r in harness.query("SELECT Intercom_Conversation_ID__c, WhoId FROM Task")
    }
    assert who["conv_1"][:15] == new_lead["Id"][:15]
    assert who["conv_2"][:15] == cid[:15]
    assert who["conv_3"][:15] == converted["contact_id"][:15]
    assert "conv_4" not in who
    assert result.states == [{"done": True}]
    # The person becomes a Lead later: the waiting Task is written without being sent again.
    later = harness.run(
        [schema_msg("Lead"), record_msg("Lead", lead("nobody")), state_msg({"done": 2})]
    )
    assert later.returncode == 0, later.stderr
    assert later.stream("Task")["retried"] == 1 and later.stream("Task")["created"] == 1
    assert later.waiting().entries == {} and later.section()["waiting_count"] == 0
    [nobody] = harness.query("SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_nobody'")
    [t4] = harness.query("SELECT WhoId FROM Task WHERE Intercom_Conversation_ID__c = 'conv_4'")
    assert t4["WhoId"][:15] == nobody["Id"][:15]


def test_dry_run_links_tasks_to_leads_it_would_create(harness: Harness) -> None:
    msgs = [
        schema_msg("Lead"),
        schema_msg("Task"),
        record_msg("Lead", lead("fresh")),
        record_msg("Task", task(1, "ic_fresh")),
        record_msg("Task", task(2, "ic_ghost")),
        state_msg({"bookmark": 1}),
    ]
    result = harness.run(msgs, dry_run=True)
    assert result.returncode == 0, result.stderr
    assert result.stream("Task")["created"] == 1, result.summary
    assert result.stream("Task")["waiting"] == 1
    assert result.raw_states == []  # a dry run moves no bookmark and keeps no waiting record
    assert result.stream("Lead")["created"] == 1
    assert harness.write_calls(composite=False) == 0  # lookups may go by Composite
    assert set(result.summary["api_calls_by_kind"]) <= {"describe", "query", "composite"}
    assert harness.query("SELECT Id FROM Lead") == []
    assert not harness.query("SELECT Id FROM Lead")


@pytest.mark.parametrize("use_composite", [False, True])
def test_big_batches_look_up_by_id_first_then_email(harness: Harness, use_composite: bool) -> None:
    """With lookups too long for one query (tiny soql_max_length here), matching still holds."""
    harness.run(lead_messages([lead(i) for i in range(20)]))
    # A big org: scanning it would cost more than the chunked queries.
    for start in range(0, 12000, 2000):
        harness.insert(
            "Lead",
            [
                {"LastName": f"Other {i}", "Company": "Big", "Email": f"other{i}@example.org"}
                for i in range(start, start + 2000)
            ],
        )
    [cid] = harness.insert("Contact", [{"LastName": "Known", "Email": "known@example.com"}])
    [lid] = harness.insert(
        "Lead", [{"LastName": "Loose", "Company": "Co", "Email": "loose@example.com"}]
    )
    records = [lead(i, Title="Changed") for i in range(20)]
    records += [
        lead(100, Email="known@example.com"),
        lead(101, Email="loose@example.com"),
        lead(102),
    ]
    harness.sf.reset_stats()
    result = harness.run(lead_messages(records), soql_max_length=500, use_composite=use_composite)
    assert result.returncode == 0, result.stderr
    result.assert_accounted("Lead", 23)
    assert result.summary["objects"]["Lead"]["updated"] == 21  # 20 existing + 1 adopted
    assert result.summary["objects"]["Lead"]["created"] == 1
    assert result.summary["objects"]["Contact"]["updated"] == 1
    kinds = result.summary["api_calls_by_kind"]
    if use_composite:
        # Up to 5 chunked queries per Composite call; the writes of both objects in one call.
        assert kinds.get("composite", 0) <= 3 and "query" not in kinds, kinds
    else:
        # Two phases (by external id, then by email) for Leads and Contacts.
        assert kinds["query"] >= 4, kinds
    contact = harness.query(f"SELECT Intercom_Contact_ID__c FROM Contact WHERE Id = '{cid}'")
    assert contact[0]["Intercom_Contact_ID__c"] == "ic_100"
    adopted = harness.query(f"SELECT Intercom_Contact_ID__c FROM Lead WHERE Id = '{lid}'")
    assert adopted[0]["Intercom_Contact_ID__c"] == "ic_101"
    assert len(harness.query("SELECT Id FROM Lead WHERE Company != 'Big'")) == 22


def test_two_new_people_with_one_email_in_a_batch_make_one_lead(harness: Harness) -> None:
    records = [lead(1, Email="Shared@example.com"), lead(2, Email="shared@EXAMPLE.com"), lead(3)]
    result = harness.run(lead_messages(records))
    result.assert_accounted("Lead", 3)
    assert result.stream("Lead")["created"] == 2
    [rej] = result.rejects
    assert (rej["external_id"], rej["error_code"]) == ("ic_2", "DUPLICATES_DETECTED")
    assert "ic_1" in rej["message"]
    rows = harness.query(
        "SELECT Intercom_Contact_ID__c FROM Lead WHERE Email = 'shared@example.com'"
    )
    assert [r["Intercom_Contact_ID__c"] for r in rows] == ["ic_1"]
    # Sent again: still one Lead, the second person is still refused.
    again = harness.run(lead_messages(records))
    assert again.stream("Lead")["rejected"] == 1
    assert len(harness.query("SELECT Id FROM Lead WHERE Email = 'shared@example.com'")) == 1


@pytest.mark.parametrize("unknown", [100, 2000])
def test_tasks_find_leads_written_earlier_in_the_run_however_many_lookups_miss(
    harness: Harness, unknown: int
) -> None:
    """300 Leads, their 300 Tasks, and Tasks for people nobody knows, in one run: the lookups
    of the unknown ones no longer fit one Composite call, and must not lose the 300 Leads."""
    msgs = [schema_msg("Lead"), schema_msg("Task")]
    msgs += [record_msg("Lead", lead(i)) for i in range(300)]
    msgs += [record_msg("Task", task(i, f"ic_{i}")) for i in range(300)]
    msgs += [record_msg("Task", task(10_000 + i, f"ic_nobody_{i}")) for i in range(unknown)]
    msgs.append(state_msg({"s": 1}))
    result = harness.run(msgs, timeout=600)
    assert result.returncode == 0, result.stderr
    t = result.stream("Task")
    assert (t["created"], t["waiting"], t["rejected"]) == (300, unknown, 0), result.summary
    leads = {
        r["Intercom_Contact_ID__c"]: r["Id"][:15]
        for r in harness.query("SELECT Id, Intercom_Contact_ID__c FROM Lead")
    }
    tasks = harness.query("SELECT Intercom_Conversation_ID__c, WhoId FROM Task")
    assert len(tasks) == 300
    for row in tasks:
        i = int(row["Intercom_Conversation_ID__c"].split("_")[1])
        assert row["WhoId"][:15] == leads[f"ic_{i}"], row
    assert len(result.waiting()) == unknown
