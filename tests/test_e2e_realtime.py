"""End to end: `tap-intercom-realtime` (the tap in inbox mode) through the mapper and the target,
with real `meltano run`, gives Salesforce what the batch job gives for the same items."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from pipeline import Pipeline, intercom_api
from tap_intercom_events.inbox import open_inbox

LEAD_FIELDS = (
    "Intercom_Contact_ID__c, Email, FirstName, LastName, Company, LeadSource, "
    "Intercom_Qualification__c, Intercom_Sessions__c, Intercom_Last_Seen__c, "
    "Intercom_Engagement_Score__c"
)
TASK_FIELDS = "Intercom_Conversation_ID__c, Subject, Description, Status, ActivityDate"


def _rows(pipe: Pipeline, query: str) -> list[str]:
    rows = []
    for row in pipe.soql(query):
        row = {k: v for k, v in row.items() if k != "attributes"}
        rows.append(json.dumps(row, sort_keys=True))
    return sorted(rows)


def _listed(pipe: Pipeline, path: str, key: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = intercom_api(pipe, "GET", path + (f"&starting_after={cursor}" if cursor else ""))
        ids += [item["id"] for item in page[key]]
        nxt = (page.get("pages") or {}).get("next")
        cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
        if not cursor:
            return ids


def _notify(inbox: Any, topic: str, item: dict[str, Any]) -> None:
    notification_id = f"notif_{uuid.uuid4()}"
    body = {"type": "notification_event", "id": notification_id, "topic": topic,
            "created_at": int(time.time()),
            "data": {"type": "notification_event_data", "item": item}}
    inbox.add(notification_id, topic, json.dumps(body).encode())


def test_realtime_drain_gives_salesforce_what_the_batch_job_gives(
    installed_plugins: None, tmp_path: Path
) -> None:
    with Pipeline(tmp_path / "e2e") as pipe:
        pipe.intercom.admin("POST", "seed", {"contacts": 60, "conversations": 25, "seed": 17})
        batch = pipe.run()
        assert batch.returncode == 0, batch.explain()
        leads = _rows(pipe, f"SELECT {LEAD_FIELDS} FROM Lead")
        tasks = _rows(pipe, f"SELECT {TASK_FIELDS} FROM Task")
        assert leads and tasks

        # A second, empty org; every contact and conversation notified (twice, as Intercom may).
        pipe.use_salesforce(pipe.add_salesforce("salesforce-realtime"))
        inbox_url = f"sqlite:///{tmp_path / 'inbox.db'}"
        inbox = open_inbox(inbox_url)
        contacts = _listed(pipe, "/contacts?per_page=150", "data")
        conversations = _listed(pipe, "/conversations?per_page=150", "conversations")
        for _ in range(2):
            for contact_id in contacts:
                _notify(inbox, "contact.user.updated", {"type": "contact", "id": contact_id})
            for conversation_id in conversations:
                _notify(inbox, "conversation.user.replied",
                        {"type": "conversation", "id": conversation_id})
        inbox.close()
        env = {"TAP_INTERCOM_REALTIME_API_URL": pipe.intercom.url,
               "TAP_INTERCOM_REALTIME_INBOX_URL": inbox_url,
               "TAP_INTERCOM_REALTIME_FOLLOW": "false"}
        pipe.intercom.reset_stats()
        proc = pipe.meltano("run", "tap-intercom-realtime", "intercom-salesforce-mapping",
                            "target-salesforce-leads", env=env, check=False)
        calls = pipe.intercom.stats()["by_endpoint"]
        assert proc.returncode == 0, proc.stderr[-6000:]

        assert _rows(pipe, f"SELECT {LEAD_FIELDS} FROM Lead") == leads
        assert _rows(pipe, f"SELECT {TASK_FIELDS} FROM Task") == tasks
        # Each item re-read once, however many notifications named it.
        assert calls.get("GET /contacts/{contact_id}") == len(contacts)
        assert calls.get("GET /conversations/{conversation_id}") == len(conversations)
        # Its own state: the inbox offset, under its own state id.
        states = pipe.meltano("state", "list").stdout.split()
        assert any("tap-intercom-realtime" in s for s in states), states
