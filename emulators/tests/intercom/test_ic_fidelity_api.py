"""What clients written by others send, answered as the live service does (issue 14, items 2, 3,
5 and 6): fractional timestamps in search, `id > ""` on conversation search, the key of a
contact's companies list, and the segments and activity-log endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Client

# ---------------------------------------------------------------------- helpers


def ids_of(results: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in results}


def search(
    client: Client, resource: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    return client.search_pages(resource, body, headers)


def singer_conversation_query(last_processed: str | None, bookmark: float) -> dict[str, Any]:
    """The body singer-io/tap-intercom (2.1.0 to 2.2.3, `Conversations.get_records` in
    tap_intercom/streams.py) posts to /conversations/search on every sync: `last_processed`
    is the id it stopped at (None on a fresh sync, sent as ""), `bookmark` is
    `datetime.timestamp()` of its bookmark, a float."""
    return {
        "pagination": {"per_page": 150},
        "query": {
            "operator": "AND",
            "value": [
                {
                    "operator": "OR",
                    "value": [
                        {"field": "id", "operator": ">", "value": last_processed or ""},
                        {"field": "id", "operator": "=", "value": last_processed or ""},
                    ],
                },
                {
                    "operator": "OR",
                    "value": [
                        {"field": "updated_at", "operator": ">", "value": bookmark},
                        {"field": "updated_at", "operator": "=", "value": bookmark},
                    ],
                },
            ],
        },
        "sort": {"field": "id", "order": "ascending"},
    }


SINGER_HEADERS = {"Intercom-Version": "2.12"}  # tap_intercom/client.py API_VERSION


@pytest.fixture(scope="module")
def conversations(seeded: Client) -> list[dict[str, Any]]:
    page = seeded.get("/conversations", params={"per_page": 150}).json()
    assert page["total_count"] == len(page["conversations"]) >= 50
    return page["conversations"]


# ---------------------------------------------------------------------- item 2: numbers


def test_integral_float_timestamps_are_accepted_in_contact_search(seeded: Client) -> None:
    contact = seeded.get("/contacts", params={"per_page": 50}).json()["data"][40]
    ts = 1_790_000_000  # 2026-09-20 in Los Angeles (the fixture's workspace timezone)
    seeded.admin("PATCH", f"contacts/{contact['id']}", {"updated_at": ts})

    def found(op: str, value: Any) -> bool:
        return contact["id"] in ids_of(
            search(
                seeded,
                "contacts",
                {
                    "query": {
                        "operator": "AND",
                        "value": [
                            {"field": "id", "operator": "=", "value": contact["id"]},
                            {"field": "updated_at", "operator": op, "value": value},
                        ],
                    }
                },
            )
        )

    assert found("=", float(ts))  # what datetime.timestamp() gives: 1790000000.0
    assert found(">", float(ts - 2 * 86400)) and not found(">", float(ts))
    assert found("<", float(ts + 2 * 86400)) and not found("<", float(ts))
    # A real fraction selects the calendar day holding that instant, like its integer part.
    assert found("=", ts + 0.75) and found("=", ts - 0.25)


def test_float_timestamps_compare_exactly_on_conversation_search(
    seeded: Client, conversations: list[dict[str, Any]]
) -> None:
    conv = conversations[3]
    ts = conv["updated_at"]

    def found(op: str, value: Any) -> bool:
        return conv["id"] in ids_of(
            search(
                seeded,
                "conversations",
                {
                    "query": {
                        "operator": "AND",
                        "value": [
                            {"field": "id", "operator": "=", "value": conv["id"]},
                            {"field": "updated_at", "operator": op, "value": value},
                        ],
                    }
                },
            )
        )

    assert found("=", float(ts)) and found(">", float(ts)) and found("<", float(ts))
    assert found(">", ts - 0.5) and not found(">", ts + 0.5)
    assert found("<", ts + 0.5) and not found("<", ts - 0.5)
    assert not found("=", ts + 0.5)  # no whole-second timestamp equals a fraction


def test_integer_fields_take_integral_floats_only(
    seeded: Client, conversations: list[dict[str, Any]]
) -> None:
    conv = conversations[0]
    parts = conv["statistics"]["count_conversation_parts"]
    hits = search(
        seeded,
        "conversations",
        {
            "query": {
                "operator": "AND",
                "value": [
                    {"field": "id", "operator": "=", "value": conv["id"]},
                    {
                        "field": "statistics.count_conversation_parts",
                        "operator": "=",
                        "value": float(parts),
                    },
                ],
            }
        },
    )
    assert ids_of(hits) == {conv["id"]}
    resp = seeded.post(
        "/conversations/search",
        {"query": {"field": "statistics.count_conversation_parts", "operator": "=", "value": 2.5}},
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "parameter_invalid"
    assert "2.5" in resp.json()["errors"][0]["message"]


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "true", '"soon"'])
def test_timestamps_that_are_not_numbers_are_refused(seeded: Client, raw: str) -> None:
    body = '{"query": {"field": "updated_at", "operator": ">", "value": ' + raw + "}}"
    resp = seeded.http.post(
        "/conversations/search", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["code"] == "parameter_invalid"


# ---------------------------------------------------------------------- item 3: id > ""


def test_the_singer_tap_conversation_query_is_answered(
    seeded: Client, conversations: list[dict[str, Any]]
) -> None:
    stamps = sorted(c["updated_at"] for c in conversations)
    bookmark = stamps[len(stamps) // 3] + 0.25  # a bookmark with microseconds, as it writes
    expected = sorted((c["id"] for c in conversations if c["updated_at"] >= bookmark), key=int)
    assert 10 < len(expected) < len(conversations)
    body = singer_conversation_query(None, bookmark)
    body["pagination"]["per_page"] = 7  # several pages, to check the cursor with `sort: id`
    got = [c["id"] for c in search(seeded, "conversations", body, SINGER_HEADERS)]
    assert got == expected  # every one, once, in ascending id order
    # An interrupted sync resumes from the last id it processed, that one included.
    last = expected[len(expected) // 2]
    resumed = [
        c["id"]
        for c in search(
            seeded, "conversations", singer_conversation_query(last, bookmark), SINGER_HEADERS
        )
    ]
    assert resumed == [i for i in expected if int(i) >= int(last)]


def test_conversation_ids_compare_as_numbers_and_empty_is_lowest(
    seeded: Client, conversations: list[dict[str, Any]]
) -> None:
    every = ids_of(conversations)

    def matching(op: str, value: Any) -> set[str]:
        return ids_of(
            search(
                seeded, "conversations", {"query": {"field": "id", "operator": op, "value": value}}
            )
        )

    assert matching(">", "") == every
    assert matching("<", "") == set()
    # 8 digits are fewer than every 9-digit id: as text "99999999" would sort after them.
    assert matching(">", "99999999") == every
    assert matching("<", "99999999") == set()
    pivot = sorted(every, key=int)[10]
    assert matching(">", pivot) == {i for i in every if int(i) >= int(pivot)}
    assert matching("<", int(pivot)) == {i for i in every if int(i) <= int(pivot)}
    # Contact ids are not numbers; `>` on them stays refused, as the description says.
    resp = seeded.post("/contacts/search", {"query": {"field": "id", "operator": ">", "value": ""}})
    assert resp.status_code == 400


# ---------------------------------------------------------------------- item 5: companies key


def test_contact_companies_are_listed_under_data(seeded: Client) -> None:
    cid = seeded.admin("GET", "seed/manifest")["manifest"]["many_companies"][0]
    contact = seeded.get(f"/contacts/{cid}").json()
    assert contact["companies"]["has_more"] is True
    seen: list[str] = []
    url = contact["companies"]["url"] + "?per_page=5"
    for _ in range(5):
        page = seeded.get(url).json()
        assert page["type"] == "list" and "companies" not in page, sorted(page)
        assert page["total_count"] == 12
        seen.extend(c["id"] for c in page["data"])
        nxt = page["pages"].get("next")
        if not nxt:
            break
        url = nxt  # a URL with its query, as the description's `pages_link` gives it
    assert len(seen) == len(set(seen)) == 12


# ---------------------------------------------------------------------- item 6: new endpoints


def test_segments_are_listed_with_counts(seeded: Client) -> None:
    plain = seeded.get("/segments")
    assert plain.status_code == 200, plain.text
    listed = plain.json()
    assert listed["type"] == "segment.list"
    by_name = {s["name"]: s for s in listed["segments"]}
    assert {"All leads", "All users"} <= set(by_name)
    assert all("count" not in s and s["type"] == "segment" for s in listed["segments"])
    assert {s["person_type"] for s in listed["segments"]} == {"contact", "user"}
    counted = {
        s["name"]: s
        for s in seeded.get("/segments", params={"include_count": "true"}).json()["segments"]
    }
    leads = search(
        seeded, "contacts", {"query": {"field": "role", "operator": "=", "value": "lead"}}
    )
    assert counted["All leads"]["count"] == len(leads) > 0
    assert counted["All leads"]["id"] == by_name["All leads"]["id"]
    one = seeded.get(f"/segments/{by_name['All users']['id']}")
    assert one.status_code == 200 and one.json()["name"] == "All users"
    missing = seeded.get("/segments/000000000000000000000000")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
    # singer-io/tap-intercom's company_segments stream asks for `type=company`.
    companies = seeded.get("/segments", params={"type": "company", "include_count": "true"})
    assert companies.status_code == 200
    assert {s["name"] for s in companies.json()["segments"]} == {
        "Enterprise plan",
        "Large companies",
    }


def test_segment_members_answer_search_and_the_attached_lists(seeded: Client) -> None:
    segments = {s["name"]: s["id"] for s in seeded.get("/segments").json()["segments"]}
    in_segment = search(
        seeded,
        "contacts",
        {"query": {"field": "segment_id", "operator": "=", "value": segments["All leads"]}},
    )
    assert in_segment and all(c["role"] == "lead" for c in in_segment)
    outside = search(
        seeded,
        "contacts",
        {"query": {"field": "segment_id", "operator": "!=", "value": segments["All leads"]}},
    )
    assert outside and all(c["role"] == "user" for c in outside)
    # Contacts without the attribute a rule reads are outside the segment, not in neither.
    ready = segments["Leads ready for sales"]
    members = search(
        seeded, "contacts", {"query": {"field": "segment_id", "operator": "=", "value": ready}}
    )
    others = search(
        seeded, "contacts", {"query": {"field": "segment_id", "operator": "!=", "value": ready}}
    )
    assert members and all(
        c["custom_attributes"].get("qualification") == "hand_to_sales" and c["role"] == "lead"
        for c in members
    )
    assert any("qualification" not in c["custom_attributes"] for c in others)
    total = seeded.get("/contacts", params={"per_page": 1}).json()["total_count"]
    assert len(members) + len(others) == total
    lead = in_segment[0]
    attached = seeded.get(f"/contacts/{lead['id']}/segments").json()
    assert attached["type"] == "list"
    assert segments["All leads"] in ids_of(attached["data"])
    assert segments["All users"] not in ids_of(attached["data"])


def test_company_segments(seeded: Client) -> None:
    companies = seeded.post("/companies/list", params={"per_page": 150}).json()["data"]
    enterprise = next(c for c in companies if (c.get("plan") or {}).get("name") == "enterprise")
    small = next(
        c
        for c in companies
        if c.get("size", 0) < 800 and (c.get("plan") or {}).get("name") != "enterprise"
    )
    got = seeded.get(f"/companies/{enterprise['id']}/segments")
    assert got.status_code == 200, got.text
    assert got.json()["type"] == "list"
    assert "Enterprise plan" in {s["name"] for s in got.json()["data"]}
    assert seeded.get(f"/companies/{small['id']}/segments").json() == {"type": "list", "data": []}
    missing = seeded.get("/companies/nope/segments")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "company_not_found"


def test_admin_activity_logs(seeded: Client) -> None:
    resp = seeded.get("/admins/activity_logs", params={"created_at_after": 0})
    assert resp.status_code == 200, resp.text
    first = resp.json()
    assert first["type"] == "activity_log.list" and first["pages"]["per_page"] == 20
    every: list[dict[str, Any]] = []
    params: dict[str, Any] = {"created_at_after": 0, "per_page": 7}
    while True:
        page = seeded.get("/admins/activity_logs", params=params).json()
        every.extend(page["activity_logs"])
        nxt = page["pages"].get("next")
        if not nxt:
            break
        params["starting_after"] = nxt["starting_after"]
    assert len(every) == len(ids_of(every)) == 30
    stamps = [a["created_at"] for a in every]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    admins = {a["id"] for a in seeded.get("/admins").json()["admins"]}
    assert {a["performed_by"]["id"] for a in every} <= admins
    lo, hi = stamps[20], stamps[5]
    window = seeded.get(
        "/admins/activity_logs",
        params={"created_at_after": lo, "created_at_before": hi, "per_page": 150},
    ).json()
    assert ids_of(window["activity_logs"]) == {
        a["id"] for a in every if lo <= a["created_at"] <= hi
    }
    # Without its required start the call is refused, not taken for an admin id.
    bad = seeded.get("/admins/activity_logs")
    assert bad.status_code == 400 and "created_at_after" in bad.json()["errors"][0]["message"]
    assert seeded.get("/admins/7000001").status_code == 200
