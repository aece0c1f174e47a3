"""A full sync of a seeded workspace: everything exactly once, in the promised shape."""

from __future__ import annotations

import json
import re

from .tap_test_support import TOKEN, TapRun

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
STREAM_ORDER = [
    "admins",
    "teams",
    "tags",
    "companies",
    "contacts",
    "contact_event_summaries",
    "conversations",
    "conversation_parts",
]


def test_every_seeded_object_exactly_once(full_run: TapRun, seeded_ic) -> None:
    seeded = seeded_ic.seeded
    for stream, count in [
        ("contacts", seeded["contacts"]),
        ("conversations", seeded["conversations"]),
        ("companies", seeded["companies"]),
        ("tags", seeded["tags"]),
        ("admins", seeded["admins"]),
        ("teams", seeded["teams"]),
    ]:
        ids = full_run.ids(stream)
        assert len(ids) == count, stream
        assert set(ids.values()) == {1}, f"{stream} has duplicates"


def test_every_part_once_and_truncation_flagged(full_run: TapRun, seeded_ic) -> None:
    parts = full_run.records["conversation_parts"]
    assert set(full_run.ids("conversation_parts").values()) == {1}
    per_conversation: dict[str, list[dict]] = {}
    for part in parts:
        per_conversation.setdefault(part["conversation_id"], []).append(part)
    total = 0
    for conversation in full_run.records["conversations"]:
        reported = conversation["statistics"]["count_conversation_parts"]
        total += reported
        got = per_conversation.get(conversation["id"], [])
        assert len(got) == min(reported, 500), conversation["id"]
        for part in got:
            assert part["conversation_parts_total"] == reported
            assert part["conversation_parts_truncated"] is (reported > 500)
    assert total == seeded_ic.seeded["parts"]
    truncated = {p["conversation_id"] for p in parts if p["conversation_parts_truncated"]}
    assert len(truncated) == seeded_ic.seeded["big_conversations"] >= 1
    for conversation_id in truncated:
        assert f"Conversation {conversation_id} has" in full_run.stderr


def test_children_follow_their_parent_before_the_next_state(full_run: TapRun) -> None:
    current: tuple[str, str] | None = None
    children = 0
    for message in full_run.messages:
        if message["type"] == "STATE":
            current = None
        elif message["type"] == "RECORD":
            record, stream = message["record"], message["stream"]
            if stream in ("contacts", "conversations"):
                current = (stream, record["id"])
            elif stream == "conversation_parts":
                assert current == ("conversations", record["conversation_id"])
                children += 1
            elif stream == "contact_event_summaries":
                assert current == ("contacts", record["contact_id"])
                children += 1
    assert children > 0


def test_streams_in_catalog_order(full_run: TapRun) -> None:
    first_seen: list[str] = []
    for message in full_run.messages:
        if message["type"] == "SCHEMA" and message["stream"] not in first_seen:
            first_seen.append(message["stream"])
    assert first_seen == STREAM_ORDER


def test_timestamps_are_rfc3339(full_run: TapRun) -> None:
    checked = 0

    def walk(value, key=""):
        nonlocal checked
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif value is not None and (
            key.endswith("_at") or key in ("waiting_since", "snoozed_until", "first", "last")
        ):
            assert isinstance(value, str) and RFC3339.match(value), (key, value)
            checked += 1

    for records in full_run.records.values():
        walk(records)
    assert checked > 1000


def test_contact_sublists_complete_and_tags_named(full_run: TapRun) -> None:
    tag_names = {tag["id"]: tag["name"] for tag in full_run.records["tags"]}
    tagged = 0
    many_companies = 0
    for contact in full_run.records["contacts"]:
        tags, companies = contact["tags"], contact["companies"]
        assert len(tags["data"]) == tags["total_count"]
        assert len(companies["data"]) == companies["total_count"]
        assert not tags["has_more"] and not companies["has_more"]
        many_companies += len(companies["data"]) > 10
        for tag in tags["data"]:
            assert tag["name"] == tag_names[tag["id"]]
            tagged += 1
    assert tagged > 0
    assert many_companies >= 1  # the seeded contact with more companies than fit inline


def test_event_summaries_per_contact(full_run: TapRun) -> None:
    summaries = full_run.records["contact_event_summaries"]
    assert summaries
    keys = [(s["contact_id"], s["name"]) for s in summaries]
    assert len(keys) == len(set(keys))
    contact_ids = set(full_run.ids("contacts"))
    assert {s["contact_id"] for s in summaries} <= contact_ids
    assert all(isinstance(s["count"], int) and s["count"] >= 1 for s in summaries)


def test_token_never_printed(full_run: TapRun) -> None:
    assert TOKEN not in full_run.stderr
    assert TOKEN not in json.dumps(full_run.messages)


def test_api_calls_near_the_floor(full_run: TapRun, seeded_ic) -> None:
    calls = full_run.stats["by_endpoint"]
    contacts = seeded_ic.seeded["contacts"]
    # ceil(N/150) pages plus the probe that fixes the bookmark ceiling.
    assert calls["POST /contacts/search"] == -(-contacts // 150) + 1
    assert calls["GET /conversations/{conversation_id}"] == seeded_ic.seeded["conversations"]
    assert full_run.stats["status_counts"].get("429", 0) == 0


def test_state_is_small_and_per_stream(full_run: TapRun) -> None:
    state = full_run.last_state
    assert state is not None
    bookmarks = state["bookmarks"]
    assert "partitions" not in bookmarks.get("conversation_parts", {})
    assert "partitions" not in bookmarks.get("contact_event_summaries", {})
    assert RFC3339.match(bookmarks["contacts"]["replication_key_value"])
    assert RFC3339.match(bookmarks["conversations"]["replication_key_value"])
    assert len(str(state)) < 2000
