"""Webhook delivery as Intercom does it, over real sockets: slow answers, pause, suspension,
429 throttling with drops, injected duplicates and reordering, and the delivery log views.

Pause, throttle and suspension run on the emulator clock, so these tests freeze it and move it
on instead of waiting; assertions are on counts, statuses and order, never on durations.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from emulators.intercom.delivery import chaos_hit

from .conftest import Client
from .hooks import SECRET, Receiver

T0 = 1_795_000_000
QUIET = {
    "webhook_slow_ms": 10_000,
    "webhook_retry_base_seconds": 0.05,
    "webhook_max_attempts": 50,
    "webhook_concurrency": 1,
}


def subscribe(client: Client, receiver: Receiver, topics: list[str]) -> dict[str, Any]:
    return client.admin(
        "POST", "webhooks", {"url": receiver.url, "topics": topics, "client_secret": SECRET}
    )


def state(client: Client) -> dict[str, Any]:
    return client.admin("GET", "webhooks/status")["subscriptions"][0]


def new_lead(client: Client, n: int) -> str:
    resp = client.post("/contacts", {"role": "lead", "email": f"hook{n}@example.com"})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def by_item(client: Client) -> dict[str, dict[str, Any]]:
    return {d["item_id"]: d for d in client.admin("GET", "webhooks/deliveries")}


def test_slow_2xx_counts_as_a_failure_and_deprioritises(fresh: Client, receiver: Receiver) -> None:
    fresh.admin(
        "POST", "config", {**QUIET, "webhook_slow_ms": 200, "webhook_retry_base_seconds": 3}
    )
    subscribe(fresh, receiver, ["contact.lead.created"])
    receiver.slow_next, receiver.slow_seconds = 1, 0.6
    lead = new_lead(fresh, 1)
    receiver.wait_for(lambda: fresh.admin("GET", "webhooks/attempts"))
    first = fresh.admin("GET", "webhooks/attempts")[0]
    assert first["outcome"] == "slow" and first["status_code"] == 200
    assert first["latency_ms"] >= 200 and first["attempt"] == 1
    sub = state(fresh)
    assert sub["deprioritised"] is True and sub["consecutive_failures"] == 1
    assert by_item(fresh)[lead]["status"] == "pending"  # retried: Intercom saw a failure
    receiver.wait_for(lambda: by_item(fresh)[lead]["status"] == "delivered")
    notes = receiver.notifications()
    assert [n["delivery_attempts"] for n in notes] == [1, 2]
    assert len({n["id"] for n in notes}) == 1
    sub = state(fresh)
    assert sub["deprioritised"] is False and sub["consecutive_failures"] == 0
    assert sub["attempts"] == {"slow": 1, "ok": 1}


def test_consecutive_failures_pause_delivery_until_the_clock_passes_the_pause(
    fresh: Client, receiver: Receiver
) -> None:
    fresh.admin("POST", "clock", {"now": T0})
    fresh.admin(
        "POST", "config", {**QUIET, "webhook_pause_failures": 3, "webhook_pause_seconds": 600}
    )
    subscribe(fresh, receiver, ["contact.lead.created"])
    receiver.always_status = 500
    leads = [new_lead(fresh, i) for i in range(2)]
    receiver.wait_for(lambda: state(fresh)["state"] == "paused")
    sub = state(fresh)
    assert sub["paused_until"] == T0 + 600 and sub["pauses"] == 1
    attempts = fresh.admin("GET", "webhooks/attempts")
    assert [a["outcome"] for a in attempts] == ["error"] * 4  # more than 3 in a row
    assert all(a["status_code"] == 500 and a["clock"] == T0 for a in attempts)
    time.sleep(0.5)  # paused: nothing more is sent, however long we wait
    assert len(fresh.admin("GET", "webhooks/attempts")) == 4
    assert len(receiver.received) == 4
    receiver.always_status = None
    fresh.admin("POST", "clock", {"advance": 599})
    time.sleep(0.3)
    assert len(receiver.received) == 4 and state(fresh)["state"] == "paused"
    fresh.admin("POST", "clock", {"advance": 1})
    receiver.wait_for(lambda: all(by_item(fresh)[lead]["status"] == "delivered" for lead in leads))
    sub = state(fresh)
    assert sub["state"] == "active" and sub["notifications"] == {"delivered": 2}
    assert sub["attempts"] == {"error": 4, "ok": 2}


def test_failing_for_the_suspension_period_suspends_the_subscription(
    fresh: Client, receiver: Receiver
) -> None:
    fresh.admin("POST", "clock", {"now": T0})
    fresh.admin(
        "POST",
        "config",
        {**QUIET, "webhook_retry_base_seconds": 0.2, "webhook_suspend_seconds": 3600},
    )
    subscribe(fresh, receiver, ["contact.lead.created"])
    receiver.always_status = 503
    first = new_lead(fresh, 1)
    receiver.wait_for(lambda: len(receiver.received) >= 2)
    assert state(fresh)["state"] == "active" and state(fresh)["failing_since"] == T0
    fresh.admin("POST", "clock", {"advance": 3600})
    receiver.wait_for(lambda: state(fresh)["state"] == "suspended")
    sub = state(fresh)
    assert sub["suspended_at"] == T0 + 3600 and sub["active"] is False
    assert by_item(fresh)[first]["status"] == "suspended"
    sent = len(receiver.received)
    later = new_lead(fresh, 2)  # a suspended subscription gets nothing, but the log says so
    assert by_item(fresh)[later]["status"] == "suspended"
    time.sleep(0.3)
    assert len(receiver.received) == sent
    # Saving the subscription again (as in the Developer Hub) starts it afresh.
    receiver.always_status = None
    subscribe(fresh, receiver, ["contact.lead.created"])
    assert state(fresh)["state"] == "active"
    third = new_lead(fresh, 3)
    receiver.wait_for(lambda: by_item(fresh)[third]["status"] == "delivered")


def test_429_throttles_and_drops_what_waits_beyond_the_kept_ones(
    fresh: Client, receiver: Receiver
) -> None:
    fresh.admin("POST", "clock", {"now": T0})
    fresh.admin(
        "POST", "config", {**QUIET, "webhook_throttle_seconds": 300, "webhook_throttle_keep": 2}
    )
    subscribe(fresh, receiver, ["contact.lead.created"])
    receiver.fail_next, receiver.fail_status = 1, 429
    leads = [new_lead(fresh, 0)]
    receiver.wait_for(lambda: state(fresh)["state"] == "throttled")
    assert state(fresh)["throttled_until"] == T0 + 300
    leads += [new_lead(fresh, i) for i in range(1, 5)]
    receiver.wait_for(lambda: len(fresh.admin("GET", "webhooks/deliveries?status=dropped")) == 3)
    dropped = fresh.admin("GET", "webhooks/deliveries?status=dropped")
    assert [d["item_id"] for d in dropped] == leads[2:]  # the newest go; the oldest 2 are kept
    assert all("429" in d["last_error"] and d["attempts"] == 0 for d in dropped)
    assert len(receiver.received) == 1
    fresh.admin("POST", "clock", {"advance": 300})
    receiver.wait_for(
        lambda: all(by_item(fresh)[lead]["status"] == "delivered" for lead in leads[:2])
    )
    got = [n["data"]["item"]["id"] for n in receiver.notifications()]
    assert got == [leads[0], leads[0], leads[1]]  # the throttled one again, then the kept one
    sub = state(fresh)
    assert sub["notifications"] == {"delivered": 2, "dropped": 3}
    assert sub["attempts"] == {"throttled": 1, "ok": 2} and sub["throttles"] == 1
    assert sub["throttle_seconds"] is None  # a success ends the escalation


def test_injected_duplicates_and_reordering_follow_the_seed(
    fresh: Client, receiver: Receiver
) -> None:
    seed, depth = 11, 2
    fresh.admin(
        "POST",
        "config",
        {
            **QUIET,
            "webhook_duplicate_rate": 0.4,
            "webhook_reorder_rate": 0.4,
            "webhook_reorder_depth": depth,
            "webhook_duplicate_delay_seconds": 0.2,
            "webhook_reorder_delay_seconds": 120,
            "webhook_chaos_seed": seed,
        },
    )
    subscribe(fresh, receiver, ["contact.lead.created"])
    leads = [new_lead(fresh, i) for i in range(12)]
    # A held notification waits for a later one to be sent: keep the stream going until all
    # of the first twelve (and their duplicates) are through.
    for i in range(12, 60):
        rows = by_item(fresh)
        if all(rows[lead]["status"] == "delivered" for lead in leads):
            break
        new_lead(fresh, i)
        time.sleep(0.1)
    rows = by_item(fresh)
    assert all(rows[lead]["status"] == "delivered" for lead in leads)
    mine = [rows[lead] for lead in leads]
    assert [r["duplicates"] for r in mine] == [
        int(chaos_hit(seed, "duplicate", r["seq"], 0.4)) for r in mine
    ]
    assert [r["reordered"] for r in mine] == [
        chaos_hit(seed, "reorder", r["seq"], 0.4) for r in mine
    ]
    assert 0 < sum(r["duplicates"] for r in mine) < 12 and sum(r["reordered"] for r in mine) > 0
    notes = receiver.notifications()
    times = Counter(n["id"] for n in notes)
    assert all(times[r["id"]] == 1 + r["duplicates"] for r in mine)
    dup_attempts = [n["delivery_attempts"] for n in notes if times[n["id"]] == 2]
    assert sorted(dup_attempts)[-1] == 2  # a redelivery is another attempt of the same id
    first_seen = {}
    for pos, note in enumerate(notes):
        first_seen.setdefault(note["id"], pos)
    seq_of = {d["id"]: d["seq"] for d in fresh.admin("GET", "webhooks/deliveries")}
    for r in mine:
        if r["reordered"]:  # it arrived after something queued after it
            assert any(
                seq_of[other] > r["seq"] and pos < first_seen[r["id"]]
                for other, pos in first_seen.items()
            )
    in_order = [r for r in mine if not r["reordered"]]
    assert sorted(in_order, key=lambda r: first_seen[r["id"]]) == in_order


def test_ping_deleted_payloads_and_topic_names(fresh: Client, receiver: Receiver) -> None:
    for topics, version, message in (
        (["conversation.tag.created"], "2.14", "conversation_part.tag.created"),
        (["contact.user.updated"], "2.5", "from API version 2.6"),
    ):
        try:
            fresh.admin(
                "POST",
                "webhooks",
                {
                    "url": receiver.url,
                    "topics": topics,
                    "client_secret": SECRET,
                    "api_version": version,
                },
            )
        except RuntimeError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{topics} at {version} was accepted")
    fresh.admin(
        "POST",
        "webhooks",
        {
            "url": receiver.url,
            "client_secret": SECRET,
            "api_version": "2.6",
            "topics": [
                "contact.user.updated",
                "contact.deleted",
                "conversation.deleted",
                "conversation.user.replied",
                "conversation_part.tag.created",
            ],
        },
    )
    fresh.admin("POST", "webhooks/ping")
    receiver.wait_for(lambda: receiver.notifications("ping"))  # delivered unasked
    assert receiver.notifications("ping")[0]["data"]["item"]["type"] == "ping"
    contact = fresh.get("/contacts", params={"per_page": 1}).json()["data"][0]
    assert fresh.delete(f"/contacts/{contact['id']}").status_code == 200
    conv = fresh.get("/conversations", params={"per_page": 2}).json()["conversations"]
    assert fresh.delete(f"/conversations/{conv[0]['id']}").status_code == 200
    target = conv[1]
    author = fresh.get(f"/conversations/{target['id']}").json()["contacts"]["contacts"][0]["id"]
    fresh.post(
        f"/conversations/{target['id']}/reply",
        {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": author,
            "body": "Still there?",
        },
    )
    admin_id = fresh.get("/admins").json()["admins"][0]["id"]
    tag = fresh.get("/tags").json()["data"][0]
    fresh.post(f"/conversations/{target['id']}/tags", {"id": tag["id"], "admin_id": admin_id})
    topics = [
        "contact.deleted",
        "conversation.deleted",
        "conversation.user.replied",
        "conversation_part.tag.created",
    ]
    receiver.wait_for(lambda: all(receiver.notifications(t) for t in topics))
    gone = receiver.notifications("contact.deleted")[0]["data"]["item"]
    assert gone["id"] == contact["id"] and set(gone) <= {"type", "id", "external_id"}
    gone = receiver.notifications("conversation.deleted")[0]["data"]["item"]
    assert gone == {"type": "conversation", "id": conv[0]["id"]}
    reply = receiver.notifications("conversation.user.replied")[0]["data"]["item"]
    parts = reply["conversation_parts"]["conversation_parts"]
    full = fresh.get(f"/conversations/{target['id']}").json()
    assert len(parts) == 1 and "Still there?" in parts[0]["body"]  # only the new part
    assert (
        reply["conversation_parts"]["total_count"]
        == len(full["conversation_parts"]["conversation_parts"])
        > 1
    )
    tagged = receiver.notifications("conversation_part.tag.created")[0]["data"]["item"]
    assert tagged["id"] == target["id"] and tagged["tags_added"]["tags"][0]["id"] == tag["id"]
    note = receiver.notifications("contact.deleted")[0]
    assert {
        "type",
        "id",
        "topic",
        "app_id",
        "created_at",
        "delivery_attempts",
        "first_sent_at",
        "data",
    } <= set(note) and note["type"] == "notification_event"


def test_burst_fires_exactly_count_real_changes_at_the_rate(
    fresh: Client, receiver: Receiver
) -> None:
    fresh.admin("POST", "clock", {"now": T0})
    fresh.admin("POST", "config", QUIET)
    subscribe(fresh, receiver, ["contact.lead.updated", "contact.lead.created"])
    try:
        fresh.admin("POST", "webhooks/burst", {"count": 3, "topic": "contact.deleted"})
    except RuntimeError as exc:
        assert "cannot fire" in str(exc)
    else:
        raise AssertionError("a burst of contact.deleted was accepted")
    count, rate = 60, 200.0
    run = fresh.admin(
        "POST",
        "webhooks/burst",
        {"count": count, "rate_per_s": rate, "topic": "contact.lead.updated"},
    )
    receiver.wait_for(lambda: fresh.admin("GET", f"webhooks/bursts/{run['id']}")["done"])
    done = fresh.admin("GET", f"webhooks/bursts/{run['id']}")
    assert done["fired"] == count and done["errors"] == [] and len(done["items"]) == count
    assert done["finished_at"] - done["started_at"] >= (count - 1) / rate  # paced, not dumped
    receiver.wait_for(lambda: len(receiver.notifications("contact.lead.updated")) == count)
    notes = receiver.notifications("contact.lead.updated")
    assert [n["data"]["item"]["id"] for n in notes] == done["items"]  # one at a time: in order
    assert len({n["id"] for n in notes}) == count
    for cid in set(done["items"][:5]):
        contact = fresh.get(f"/contacts/{cid}").json()  # the change is real
        assert contact["last_seen_at"] == T0
        assert contact["custom_attributes"]["qualification"] == "hand_to_sales"
    created = fresh.admin(
        "POST", "webhooks/burst", {"count": 5, "rate_per_s": 50, "topic": "contact.lead.created"}
    )
    receiver.wait_for(lambda: len(receiver.notifications("contact.lead.created")) == 5)
    items = fresh.admin("GET", f"webhooks/bursts/{created['id']}")["items"]
    assert [fresh.get(f"/contacts/{cid}").status_code for cid in items] == [200] * 5
    assert [b["id"] for b in fresh.admin("GET", "webhooks/bursts")] == [run["id"], created["id"]]
    time.sleep(0.2)
    assert len(receiver.notifications()) == count + 5
