"""The real-time job end to end: the Intercom emulator delivers webhooks to the real receiver
(`meltano invoke intercom-webhook-receiver`), the long-lived `meltano run
intercom-realtime-to-salesforce` turns them into Leads in the Salesforce emulator.

Ground truth comes from the emulators: the contacts a burst changed (its `items`), whether each
qualifies (Intercom's own API, as lead.yml decides), what the delivery log says was
acknowledged, and the Leads the Salesforce emulator holds. And the inbox drained once (follow
off) gives Salesforce what the batch job gives for the same items.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tap_intercom_events.inbox import open_inbox

from scripts.pipeline import (
    FAST_INTERCOM_ARGS,
    Pipeline,
    ReceiverJob,
    RunningJob,
    account_for_everything,
    all_intercom_contacts,
    intercom_api,
    qualifies,
    read_jsonl,
    salesforce_view,
    seed_intercom_template,
    usable_email,
)

# A small workspace: the edge-case people (no email, malformed, two sharing an email) and a few
# dozen ordinary ones.
TINY = {"contacts": 60, "conversations": 20, "seed": 7}
HAND_TO_SALES = {"custom_attributes": {"qualification": "hand_to_sales"}}
# Retries come quickly, and give up after 3 attempts (so a receiver down for a few seconds
# makes some notifications `failed`: the batch job's to reconcile).
FAST_RETRIES = {"webhook_retry_base_seconds": 0.3, "webhook_max_attempts": 3}


@pytest.fixture(scope="session")
def tiny_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("realtime-template") / "intercom"
    seed_intercom_template(path, **TINY)
    return path


@pytest.fixture
def realtime(
    make_pipeline: Callable[..., Pipeline], tiny_template: Path
) -> Iterator[tuple[Pipeline, ReceiverJob]]:
    """Both emulators, the receiver running and subscribed; the pipeline's teardown kills the
    receiver's and the jobs' process groups."""
    pipe = make_pipeline(tiny_template, intercom_args=FAST_INTERCOM_ARGS)
    pipe.intercom.admin("POST", "config", FAST_RETRIES)
    receiver = pipe.start_receiver()
    pipe.subscribe(receiver)
    yield pipe, receiver


# -- helpers ----------------------------------------------------------------------------------
def wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 120, job: RunningJob | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if job is not None and not job.alive():
            raise AssertionError(
                f"the real-time job ended before {what}: {job.log.read_text()[-4000:]}"
            )
        if time.monotonic() > deadline:
            tail = job.log.read_text()[-4000:] if job else ""
            raise AssertionError(f"no {what} within {timeout} s\n{tail}")
        time.sleep(0.25)


def burst(pipe: Pipeline, topic: str, count: int, rate: float, **body: Any) -> str:
    """Start an emulator burst (real changes, each firing `topic`); its id."""
    return str(
        pipe.intercom.admin(
            "POST", "webhooks/burst", {"topic": topic, "count": count, "rate_per_s": rate, **body}
        )["id"]
    )


def burst_items(pipe: Pipeline, burst_id: str) -> list[str]:
    """The contact ids a burst changed, once it is done."""
    wait_for(
        lambda: pipe.intercom.admin("GET", f"webhooks/bursts/{burst_id}")["done"],
        f"burst {burst_id} done",
        timeout=60,
    )
    return list(pipe.intercom.admin("GET", f"webhooks/bursts/{burst_id}")["items"])


def deliveries(pipe: Pipeline) -> list[dict[str, Any]]:
    return list(pipe.intercom.admin("GET", "webhooks/deliveries?limit=100000"))


def settled(pipe: Pipeline) -> bool:
    """No notification is still to be sent or retried."""
    return all(d["status"] not in {"pending", "sending"} for d in deliveries(pipe))


def qualifying(pipe: Pipeline, contact_ids: set[str]) -> dict[str, str | None]:
    """Of these contacts, those lead.yml makes a Lead of: id -> usable email (None: none)."""
    out: dict[str, str | None] = {}
    for cid in contact_ids:
        contact = intercom_api(pipe, "GET", f"/contacts/{cid}")
        if qualifies(pipe, contact):
            out[cid] = usable_email(contact.get("email"))
    return out


def open_leads(pipe: Pipeline) -> Counter[str]:
    """Open Leads per Intercom contact id."""
    return Counter(
        lead["Intercom_Contact_ID__c"]
        for lead in salesforce_view(pipe.salesforce).leads
        if lead.get("Intercom_Contact_ID__c") and not lead.get("IsConverted")
    )


def leads_include(pipe: Pipeline, contact_ids: set[str]) -> Callable[[], bool]:
    return lambda: contact_ids <= set(open_leads(pipe))


def assert_exactly_once(pipe: Pipeline, expected: set[str], what: str) -> None:
    """The open Leads are exactly `expected`, one each, and no email is on two of them."""
    leads = [lead for lead in salesforce_view(pipe.salesforce).leads if not lead.get("IsConverted")]
    per_id = Counter(lead["Intercom_Contact_ID__c"] for lead in leads)
    per_email = Counter((lead.get("Email") or "").lower() for lead in leads if lead.get("Email"))
    missing = expected - set(per_id)
    extra = set(per_id) - expected
    twice = {cid for cid, n in per_id.items() if n > 1}
    shared = {email for email, n in per_email.items() if n > 1}
    assert not (missing or extra or twice or shared), (
        f"{what}: missing {sorted(missing)[:5]} ({len(missing)}), not expected "
        f"{sorted(extra)[:5]}, twice {sorted(twice)}, an email on two Leads {sorted(shared)}"
    )


def started(pipe: Pipeline, job: RunningJob) -> str:
    """Wait until the real-time job is up: one new qualifying lead made a Lead; its id."""
    [cid] = burst_items(pipe, burst(pipe, "contact.lead.created", 1, 1, **HAND_TO_SALES))
    wait_for(leads_include(pipe, {cid}), "the real-time job's first Lead", job=job)
    return cid


def stop(job: RunningJob) -> None:
    job.kill_group()


def kill_plugin(job: RunningJob, executable: str) -> None:
    """kill -9 of one plugin process of a running `meltano run`."""
    pids = job.plugin_pids(executable)
    assert pids, f"no {executable} process in the run"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


# -- tests --------------------------------------------------------------------------------------
def test_a_burst_becomes_leads_once_and_contacts_without_email_are_rejected_with_reason(
    realtime: tuple[Pipeline, ReceiverJob],
) -> None:
    pipe, _ = realtime
    job = pipe.start_realtime()
    created = burst(pipe, "contact.lead.created", 40, 20, **HAND_TO_SALES)
    updated = burst(
        pipe, "contact.user.updated", 20, 20, changes={"custom_attributes": {"plan": "burst"}}
    )
    # The Make recipe's error branch: people with no usable email who qualify.
    no_email = [c["id"] for c in all_intercom_contacts(pipe) if not usable_email(c.get("email"))]
    assert no_email, "the workspace has no contact without a usable email"
    for cid in no_email:
        pipe.intercom.admin("PATCH", f"contacts/{cid}", HAND_TO_SALES)
    items = set(burst_items(pipe, created)) | set(burst_items(pipe, updated)) | set(no_email)
    expected = qualifying(pipe, items)
    with_email = {cid for cid, email in expected.items() if email}
    assert len(with_email) >= 40 and set(no_email) <= set(expected)

    wait_for(leads_include(pipe, with_email), "Lead of every qualifying contact", job=job)
    wait_for(lambda: settled(pipe), "every notification delivered", job=job)
    time.sleep(2)  # what the last deliveries started is written
    stop(job)
    assert_exactly_once(pipe, with_email, "after a burst")
    rejected = {
        row["key"]: row for row in read_jsonl(pipe.mapper_rejects) if row.get("stream") == "Lead"
    }
    for cid in no_email:
        assert rejected.get(cid, {}).get("kind") == "rejected", cid
        assert "email" in rejected[cid]["reason"], rejected[cid]


def test_b_receiver_killed_9_under_load_then_the_batch_job_reconciles(
    realtime: tuple[Pipeline, ReceiverJob],
) -> None:
    pipe, receiver = realtime
    job = pipe.start_realtime()
    first = burst(pipe, "contact.lead.created", 120, 30, **HAND_TO_SALES)
    wait_for(
        lambda: sum(d["status"] == "delivered" for d in deliveries(pipe)) >= 30,
        "30 notifications acknowledged",
        timeout=60,
    )
    receiver.kill_group()
    time.sleep(1.5)  # the emulator's attempts fail meanwhile; some give up (3 attempts)
    receiver.start()
    items = set(burst_items(pipe, first))
    wait_for(lambda: settled(pipe), "every notification delivered or given up", job=job)
    log = deliveries(pipe)
    acknowledged = {d["item_id"] for d in log if d["status"] == "delivered"}
    lost = {d["item_id"] for d in log if d["status"] in {"failed", "dropped"}}
    assert lost, f"the receiver's kill cost no notification: {Counter(d['status'] for d in log)}"
    expected = qualifying(pipe, acknowledged)
    wait_for(leads_include(pipe, set(expected)), "Lead of every acknowledged notification", job=job)
    stop(job)
    caught_up = pipe.catch_up()
    assert caught_up.returncode == 0, caught_up.explain()
    assert_exactly_once(pipe, set(expected), "after the receiver's kill, before the batch job")

    batch = pipe.run(check=False)
    assert batch.returncode == 0, batch.explain()
    assert items <= set(open_leads(pipe)), "the batch job did not reconcile the lost ones"
    account_for_everything(pipe).check()


def test_c_tap_then_target_killed_9_mid_way_each_restart_loses_nothing_and_doubles_nothing(
    realtime: tuple[Pipeline, ReceiverJob],
) -> None:
    pipe, _ = realtime
    job = pipe.start_realtime()
    items = {started(pipe, job)}
    for victim in ("tap-intercom-events", "target-salesforce-leads"):
        if victim.startswith("target"):
            # Every Salesforce call takes 0.6 s: the kill lands while a batch's writes are in
            # flight (sent, not yet answered).
            pipe.salesforce.admin("POST", "faults", {"kind": "latency", "ms": 600})
        before = len(open_leads(pipe))
        fired = burst(pipe, "contact.lead.created", 50, 10, **HAND_TO_SALES)
        wait_for(lambda: len(open_leads(pipe)) >= before + 5, "the burst's first Leads", job=job)  # noqa: B023
        if victim.startswith("target"):
            time.sleep(0.3)
        kill_plugin(job, victim)
        written_at_kill = len(open_leads(pipe))
        job.proc.wait(timeout=120)  # Meltano ends the run when one of its plugins dies
        items |= set(burst_items(pipe, fired))
        assert written_at_kill < len(items), f"{victim} was killed after everything was written"
        job = pipe.start_realtime()
        wait_for(leads_include(pipe, items), f"every Lead after {victim} was killed", job=job)
    wait_for(lambda: settled(pipe), "every notification delivered", job=job)
    time.sleep(2)
    stop(job)
    assert_exactly_once(pipe, set(qualifying(pipe, items)), "after the kills")


def test_d_batch_and_realtime_jobs_at_once_never_two_leads_for_one_email_or_contact(
    realtime: tuple[Pipeline, ReceiverJob],
) -> None:
    pipe, _ = realtime
    contacts = all_intercom_contacts(pipe)
    emails = Counter(usable_email(c.get("email")) for c in contacts if usable_email(c.get("email")))
    sharing = [c["id"] for c in contacts if emails[usable_email(c.get("email"))] > 1]
    assert len(sharing) >= 2, "the workspace has no two contacts sharing an email"
    # Writes take a while, so that the two jobs' Lead look-ups and creates overlap.
    pipe.salesforce.admin("POST", "faults", {"kind": "latency", "ms": 200})
    job = pipe.start_realtime()
    batch = pipe.start_run(log=pipe.workdir / "batch-job.log")
    for cid in sharing:
        pipe.intercom.admin("PATCH", f"contacts/{cid}", HAND_TO_SALES)
    updated = burst(pipe, "contact.user.updated", 40, 4, **{"changes": HAND_TO_SALES})
    items = set(burst_items(pipe, updated)) | set(sharing)
    result = batch.wait(timeout=600)
    assert result.returncode == 0, (pipe.workdir / "batch-job.log").read_text()[-4000:]
    expected = qualifying(pipe, items)
    holders = {cid for cid, email in expected.items() if email and emails[email] == 1}
    wait_for(leads_include(pipe, holders), "the real-time Leads", job=job)
    wait_for(lambda: settled(pipe), "every notification delivered", job=job)
    time.sleep(2)
    stop(job)
    # One more batch run: everything accounted for, each person and email once.
    final = pipe.run("--force", check=False)
    assert final.returncode == 0, final.explain()
    acc = account_for_everything(pipe)
    shared_leads = [cid for cid in sharing if cid in open_leads(pipe)]
    assert len(shared_leads) == 1, f"the two contacts sharing an email: {shared_leads}"
    acc.check()


# -- the real-time path gives what the batch path gives -------------------------------------
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
    body = {
        "type": "notification_event",
        "id": notification_id,
        "topic": topic,
        "created_at": int(time.time()),
        "data": {"type": "notification_event_data", "item": item},
    }
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
                _notify(
                    inbox,
                    "conversation.user.replied",
                    {"type": "conversation", "id": conversation_id},
                )
        inbox.close()
        env = {
            "TAP_INTERCOM_REALTIME_API_URL": pipe.intercom.url,
            "TAP_INTERCOM_REALTIME_INBOX_URL": inbox_url,
            "TAP_INTERCOM_REALTIME_FOLLOW": "false",
        }
        pipe.intercom.reset_stats()
        proc = pipe.meltano(
            "run",
            "tap-intercom-realtime",
            "intercom-salesforce-mapping",
            "target-salesforce-leads",
            env=env,
            check=False,
        )
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
