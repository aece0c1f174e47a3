"""Message flow: buffering children, STATE ordering, engagement merge, determinism."""

from __future__ import annotations

from .map_helpers import contact, conversation, part, record, schema, state


def _summary(contact_id: str, name: str, count: int) -> dict:
    return {
        "contact_id": contact_id,
        "name": name,
        "first": "2026-11-01T10:00:00Z",
        "last": "2026-11-23T10:00:00Z",
        "count": count,
        "description": None,
    }


def _tap_output() -> list[dict]:
    """A run as the tap emits it: parents, then their children, STATE in between."""
    return [
        schema("admins"),
        record("admins", {"type": "admin", "id": "a1", "name": "Ann Agent"}),
        schema("contacts"),
        schema("contact_event_summaries", "contact_id"),
        record("contacts", contact("c1", "one@acme.com", custom_attributes={"session_count": 12})),
        record("contact_event_summaries", _summary("c1", "viewed-pricing", 3)),
        record("contact_event_summaries", _summary("c1", "invited-teammate", 4)),
        record("contacts", contact("c2", "two@acme.com", last_seen_at=None)),
        state({"bookmarks": {"contacts": {"replication_key_value": "A"}}}),
        record("contacts", contact("c3", "three@acme.com")),
        record("contact_event_summaries", _summary("c3", "login", 2)),
        state({"bookmarks": {"contacts": {"replication_key_value": "B"}}}),
        schema("conversations"),
        schema("conversation_parts"),
        record("conversations", conversation("v1")),
        record("conversation_parts", part("11", "v1", "2026-11-21T10:00:00Z", "first reply")),
        record("conversation_parts", part("12", "v1", "2026-11-21T11:00:00Z", "second reply")),
        state({"bookmarks": {"conversations": {"replication_key_value": "C"}}}),
        record("conversations", conversation("v2")),
        record("conversation_parts", part("21", "v2", "2026-11-22T10:00:00Z", "only reply")),
    ]


def test_state_comes_after_the_records_it_covers(run_mapper):
    run = run_mapper(_tap_output())
    assert run.returncode == 0, run.stderr
    order = [
        m["record"].get("Intercom_Contact_ID__c") or m["record"].get("Intercom_Conversation_ID__c")
        if m["type"] == "RECORD"
        else f"STATE {list(m['value']['bookmarks'].values())[0]['replication_key_value']}"
        for m in run.messages
        if m["type"] in ("RECORD", "STATE")
    ]
    assert order == ["c1", "c2", "STATE A", "c3", "STATE B", "v1", "STATE C", "v2"]
    # The last Task was flushed at the end of the input although no STATE followed it.
    assert "second reply" in run.tasks()["v1"]["Description"]
    assert "only reply" in run.tasks()["v2"]["Description"]


def test_input_streams_are_consumed(run_mapper):
    run = run_mapper(_tap_output())
    assert {m.get("stream") for m in run.messages if m["type"] != "STATE"} == {"Lead", "Task"}


def test_pass_through_streams(run_mapper):
    run = run_mapper(_tap_output(), {"pass_through_streams": ["admins"]})
    admins = [m for m in run.messages if m.get("stream") == "admins"]
    assert [m["type"] for m in admins] == ["SCHEMA", "RECORD"]
    assert admins[1]["record"]["name"] == "Ann Agent"


def test_engagement_merges_event_summaries(run_mapper):
    run = run_mapper(_tap_output())
    leads = run.leads()
    assert leads["c1"]["Intercom_Event_Count__c"] == 7
    assert leads["c1"]["Intercom_Sessions__c"] == 12
    assert leads["c1"]["Intercom_Last_Seen__c"] == "2026-11-23T10:00:00Z"
    # Summaries stream selected, none for c2: zero events, no sessions, never seen.
    assert leads["c2"]["Intercom_Event_Count__c"] == 0
    assert leads["c2"]["Intercom_Sessions__c"] is None
    assert leads["c2"]["Intercom_Last_Seen__c"] is None
    assert leads["c3"]["Intercom_Event_Count__c"] == 2
    # Formula (README): seen 1 day before updated_at -> 40; 12 sessions -> 25*ln(13)/ln(51)
    # = 16.31; 7 events -> 25*ln(8)/ln(101) = 11.26; no reply -> 0. Total 67.57 -> 68.
    assert leads["c1"]["Intercom_Engagement_Score__c"] == 68
    # c3: 40 + 25*ln(3)/ln(101) = 45.95 -> 46. c2 is known to have no activity at all: 0.
    assert leads["c3"]["Intercom_Engagement_Score__c"] == 46
    assert leads["c2"]["Intercom_Engagement_Score__c"] == 0


def test_engagement_recency_and_replies(run_mapper):
    messages = [
        record("contacts", contact("c1", "a@acme.com", last_seen_at="2026-10-01T10:00:00Z")),
        record(
            "contacts",
            contact(
                "c2",
                "b@acme.com",
                last_seen_at="2026-11-10T10:00:00Z",
                last_replied_at="2026-11-09T10:00:00Z",
                custom_attributes={"session_count": 500},
            ),
        ),
        state({}),
    ]
    leads = run_mapper(messages).leads()
    # 54 days before updated_at: 10 recency points only.
    assert leads["c1"]["Intercom_Engagement_Score__c"] == 10
    # 14 days: 25; sessions capped at 25; reply 10.
    assert leads["c2"]["Intercom_Engagement_Score__c"] == 60
    fixed = run_mapper(messages, {"score_as_of": "2026-10-02T00:00:00Z"}).leads()
    assert fixed["c1"]["Intercom_Engagement_Score__c"] == 40


def test_event_count_absent_when_summaries_not_synced(run_mapper):
    run = run_mapper(
        [schema("contacts"), record("contacts", contact("c1", "a@acme.com")), state({})]
    )
    lead = run.leads()["c1"]
    assert "Intercom_Event_Count__c" not in lead
    assert lead["Intercom_Engagement_Score__c"] == 40


def test_output_is_deterministic(run_mapper):
    first = run_mapper(_tap_output(), rejects=False)
    second = run_mapper(_tap_output(), rejects=False)
    assert first.stdout == second.stdout
    assert first.stdout.count('"type":"RECORD"') == 5


def test_orphan_children_are_ignored_with_a_warning(run_mapper):
    messages = [
        schema("contact_event_summaries", "contact_id"),
        record("contacts", contact("c1", "a@acme.com")),
        state({}),
        record("contact_event_summaries", _summary("c1", "late", 5)),
        record("contacts", contact("c2", "b@acme.com")),
    ]
    run = run_mapper(messages)
    assert run.leads()["c1"]["Intercom_Event_Count__c"] == 0
    assert "contact_event_summaries record arrived for c1" in run.stderr


def test_state_is_delivered_with_its_records_while_input_continues(tmp_path):
    """The target gets a STATE (and the records before it) without waiting for the input's end."""
    import json
    import os
    import queue
    import subprocess
    import threading

    from .map_helpers import CLI, REPO

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"reject_file": str(tmp_path / "rejects.jsonl")}))
    proc = subprocess.Popen(
        [str(CLI), "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        # Buffered as under Meltano: only explicit flushes deliver lines before the end.
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        for message in (
            record("contacts", contact("c0", None)),
            record("contacts", contact("c1", "a@acme.com")),
            state({"step": 1}),
        ):
            proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        seen = []
        while not seen or json.loads(seen[-1])["type"] != "STATE":
            seen.append(lines.get(timeout=30))
        types = [(m["type"], m.get("stream")) for m in map(json.loads, seen)]
        # Every output SCHEMA comes first, then the records, then the state covering them.
        assert types == [
            ("SCHEMA", "Lead"),
            ("SCHEMA", "Task"),
            ("RECORD", "Lead"),
            ("STATE", None),
        ]
        # The reject a state covers is on disk by the time the state is passed on.
        rejects = (tmp_path / "rejects.jsonl").read_text("utf-8").splitlines()
        assert [json.loads(line)["key"] for line in rejects] == ["c0"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
