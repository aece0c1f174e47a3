"""Tasks from conversations: transcript, subject, status, links and rejects."""

from __future__ import annotations

from .map_helpers import contact, conversation, part, record, schema, state

CUSTOMER = {"type": "user", "id": "c1", "name": "Pat Doe"}


def _run(run_mapper, conversations, config=None):
    messages = [schema("conversations"), schema("conversation_parts")]
    for conv, parts in conversations:
        messages.append(record("conversations", conv))
        messages.extend(record("conversation_parts", p) for p in parts)
    messages.append(state({"bookmarks": {}}))
    return run_mapper(messages, config)


def test_transcript_is_ordered_plain_text(run_mapper):
    conv = conversation(
        "v1",
        body="<p>Hi, I&#39;d like a <b>quote</b> &amp; a demo.</p><p>Thanks!</p>",
        created_at="2026-11-20T09:05:00Z",
    )
    parts = [
        # Arrive out of order: the transcript sorts them by created_at.
        part("103", "v1", "2026-11-20T11:00:00Z", None, part_type="close"),
        part(
            "101",
            "v1",
            "2026-11-20T09:30:00Z",
            "Sure &mdash; <a href='https://x.example/d'>book here</a>",
        ),
        part(
            "102",
            "v1",
            "2026-11-20T10:15:00Z",
            "<div>Booked<br>for Monday</div>",
            author=CUSTOMER,
        ),
        part(
            "104",
            "v1",
            "2026-11-20T10:20:00Z",
            None,
            part_type="assignment",
            author={"type": "bot", "id": "b1", "name": "Fin"},
        ),
        part(
            "105",
            "v1",
            "2026-11-20T10:40:00Z",
            "Internal: hot lead",
            part_type="note",
            author={"type": "admin", "id": "a2"},
        ),
        # A part with no body and no meaning is left out.
        part(
            "106",
            "v1",
            "2026-11-20T10:50:00Z",
            None,
            part_type="conversation_attribute_updated_by_admin",
        ),
    ]
    admins = [
        schema("admins"),
        record("admins", {"type": "admin", "id": "a2", "name": "Ben Boss", "email": "b@x.example"}),
    ]
    messages = [*admins, record("conversations", conv)]
    messages += [record("conversation_parts", p) for p in parts] + [state({})]
    run = run_mapper(messages)
    assert run.returncode == 0, run.stderr
    assert run.tasks()["v1"]["Description"] == "\n".join(
        [
            "2026-11-20 09:05 Pat Doe (user): Hi, I'd like a quote & a demo.",
            "    Thanks!",
            "2026-11-20 09:30 Ann Agent (admin): Sure — book here (https://x.example/d)",
            "2026-11-20 10:15 Pat Doe (user): Booked",
            "    for Monday",
            "2026-11-20 10:20 Fin (bot): [assigned the conversation]",
            "2026-11-20 10:40 Ben Boss (admin, internal note): Internal: hot lead",
            "2026-11-20 11:00 Ann Agent (admin): [closed the conversation]",
        ]
    )


def test_transcript_times_follow_the_timezone_setting(run_mapper):
    conv = conversation("v1", created_at="2026-11-20T23:30:00Z", updated_at="2026-11-20T23:45:00Z")
    run = _run(run_mapper, [(conv, [])], {"timezone": "Europe/Berlin"})
    task = run.tasks()["v1"]
    assert task["Description"].startswith("2026-11-21 00:30 Pat Doe (user): Hello there")
    assert task["ActivityDate"] == "2026-11-21"


def test_transcript_is_capped_with_a_note(run_mapper):
    conv = conversation("v1", body="<p>" + "Opening question. " * 50 + "</p>")
    parts = [
        part(
            str(1000 + i),
            "v1",
            f"2026-11-21T{i // 60:02d}:{i % 60:02d}:00Z",
            f"message {i} " + "x" * 400,
        )
        for i in range(200)
    ]
    run = _run(run_mapper, [(conv, parts)])
    description = run.tasks()["v1"]["Description"]
    assert len(description) <= 32000
    lines = description.split("\n")
    assert lines[0].startswith("2026-11-20 10:00 Pat Doe (user): Opening question.")
    assert "earlier messages left out to fit Salesforce's 32,000-character limit" in lines[1]
    omitted = int(lines[1].split()[0].lstrip("["))
    kept = lines[2:]
    assert omitted + len(kept) == 200
    # The most recent messages are the ones kept, in order, ending with the last one.
    assert kept[-1].startswith("2026-11-21 03:19 Ann Agent (admin): message 199 ")
    assert [int(line.split("message ")[1].split()[0]) for line in kept] == list(
        range(200 - len(kept), 200)
    )


def test_transcript_cap_setting_and_single_huge_message(run_mapper):
    conv = conversation("v1", body="word " * 5000)
    run = _run(run_mapper, [(conv, [])], {"transcript_max_chars": 500})
    description = run.tasks()["v1"]["Description"]
    assert len(description) <= 500
    assert "shortened to fit" in description


def test_truncated_parts_are_noted(run_mapper):
    conv = conversation("v1")
    parts = [
        part("201", "v1", "2026-11-21T10:00:00Z", "latest reply", total=612, truncated=True),
        part("202", "v1", "2026-11-21T10:05:00Z", "and more", total=612, truncated=True),
    ]
    run = _run(run_mapper, [(conv, parts)])
    lines = run.tasks()["v1"]["Description"].split("\n")
    assert lines[1] == (
        "[Intercom returned only the most recent 2 parts of 612 of this conversation; "
        "earlier messages are missing here. See the conversation in Intercom.]"
    )
    assert lines[2].endswith("latest reply")


def test_task_fields(run_mapper):
    closed = conversation(
        "v1",
        contact_ids=["c7", "c8"],
        title="<b>Pricing</b> for 20 seats",
        state="closed",
        open=False,
        priority="priority",
        updated_at="2026-11-24T16:30:00Z",
    )
    untitled = conversation("v2", body="<p>" + "long question " * 40 + "</p>")
    email = conversation("v3", title="", body="")
    email["source"]["type"] = "email"
    sourceless = conversation("v4", title="Call me")
    del sourceless["source"]
    run = _run(
        run_mapper,
        [(closed, []), (untitled, []), (email, []), (sourceless, [])],
        {"intercom_app_id": "abc123"},
    )
    tasks = run.tasks()
    assert tasks["v1"] == {
        "Intercom_Conversation_ID__c": "v1",
        "Subject": "Intercom: Pricing for 20 seats",
        "Description": "2026-11-20 10:00 Pat Doe (user): Hello there",
        "ActivityDate": "2026-11-24",
        "Status": "Completed",
        "Priority": "High",
        "Type": "Other",
        "Intercom_URL__c": "https://app.intercom.com/a/apps/abc123/inbox/inbox/conversation/v1",
        "Who": {"Intercom_Contact_ID__c": "c7"},
    }
    subject = tasks["v2"]["Subject"]
    assert subject.startswith("Intercom: long question long question")
    assert len(subject) == 255 and subject.endswith("…")
    assert (tasks["v2"]["Status"], tasks["v2"]["Priority"]) == ("In Progress", "Normal")
    assert tasks["v3"]["Subject"] == "Intercom: conversation v3"
    assert tasks["v3"]["Type"] == "Email"
    assert tasks["v3"]["Description"] is None
    # No source at all (not seen from Intercom, but nothing must break on it).
    assert (tasks["v4"]["Subject"], tasks["v4"]["Type"]) == ("Intercom: Call me", "Other")


def test_no_link_without_app_id(run_mapper):
    run = _run(run_mapper, [(conversation("v1"), [])])
    assert run.tasks()["v1"]["Intercom_URL__c"] is None


def test_conversation_without_contact_is_rejected(run_mapper):
    run = _run(run_mapper, [(conversation("v1", contact_ids=[]), []), (conversation("v2"), [])])
    assert list(run.tasks()) == ["v2"]
    reject = run.rejected()["v1"]
    assert (reject["stream"], reject["source_stream"], reject["kind"]) == (
        "Task",
        "conversations",
        "rejected",
    )
    assert reject["reason"] == "conversation has no contact; a Task needs a person to attach to"


def test_tasks_and_leads_in_one_run(run_mapper):
    messages = [
        schema("contacts"),
        record("contacts", contact("c1", "pat@acme.com")),
        schema("conversations"),
        record("conversations", conversation("v1")),
        state({"done": True}),
    ]
    run = run_mapper(messages)
    assert list(run.leads()) == ["c1"]
    assert run.tasks()["v1"]["Who"] == {"Intercom_Contact_ID__c": "c1"}
    schemas = {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}
    assert schemas["Task"]["key_properties"] == ["Intercom_Conversation_ID__c"]
    assert schemas["Lead"]["key_properties"] == ["Intercom_Contact_ID__c"]
    assert set(schemas["Task"]["schema"]["properties"]) == {
        "Intercom_Conversation_ID__c",
        "Subject",
        "Description",
        "ActivityDate",
        "Status",
        "Priority",
        "Type",
        "Intercom_URL__c",
        "Who",
    }
