"""Search semantics: calendar days in the workspace timezone, operators, limits, sort, paging."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import Client

LA = ZoneInfo("America/Los_Angeles")


def local(*args: int, tz: ZoneInfo = LA) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp())


def ids_of(results: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in results}


@pytest.fixture(scope="module")
def boundary(seeded: Client) -> dict[str, str]:
    """Four contacts around the local midnights of 2026-03-10 in Los Angeles (after DST began)."""
    page = seeded.get("/contacts", params={"per_page": 50}).json()["data"]
    stamps = {
        "day_before_last_second": local(2026, 3, 9, 23, 59, 59),
        "day_first_second": local(2026, 3, 10, 0, 0, 0),
        "day_last_second": local(2026, 3, 10, 23, 59, 59),
        "next_day_first_second": local(2026, 3, 11, 0, 0, 0),
    }
    out = {}
    for contact, (label, ts) in zip(page[30:34], stamps.items(), strict=True):
        seeded.admin("PATCH", f"contacts/{contact['id']}", {"updated_at": ts})
        out[label] = contact["id"]
    return out


def day_query(boundary: dict[str, str], op: str, value: Any) -> dict[str, Any]:
    return {
        "operator": "AND",
        "value": [
            {"field": "id", "operator": "IN", "value": list(boundary.values())},
            {"field": "updated_at", "operator": op, "value": value},
        ],
    }


def test_equals_matches_the_whole_local_day(seeded: Client, boundary: dict[str, str]) -> None:
    noon = local(2026, 3, 10, 12, 0, 0)
    found = ids_of(seeded.search_all("contacts", day_query(boundary, "=", noon)))
    assert found == {boundary["day_first_second"], boundary["day_last_second"]}
    # Any instant of the day selects the same day, and a numeric string is accepted.
    late = str(local(2026, 3, 10, 23, 0, 0))
    assert ids_of(seeded.search_all("contacts", day_query(boundary, "=", late))) == found


def test_greater_than_starts_at_the_next_local_midnight(
    seeded: Client, boundary: dict[str, str]
) -> None:
    morning = local(2026, 3, 10, 9, 0, 0)
    found = ids_of(seeded.search_all("contacts", day_query(boundary, ">", morning)))
    assert found == {boundary["next_day_first_second"]}


def test_less_than_ends_before_the_local_midnight(seeded: Client, boundary: dict[str, str]) -> None:
    evening = local(2026, 3, 10, 21, 0, 0)
    found = ids_of(seeded.search_all("contacts", day_query(boundary, "<", evening)))
    assert found == {boundary["day_before_last_second"]}


def test_day_boundaries_follow_the_configured_timezone(fresh: Client) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    contact = fresh.get("/contacts", params={"per_page": 1}).json()["data"][0]
    # 2026-05-01 08:30 in Tokyo is still 2026-04-30 in UTC.
    ts = local(2026, 5, 1, 8, 30, 0, tz=tokyo)
    fresh.admin("PATCH", f"contacts/{contact['id']}", {"updated_at": ts})
    query = {
        "operator": "AND",
        "value": [
            {"field": "id", "operator": "=", "value": contact["id"]},
            {
                "field": "updated_at",
                "operator": "=",
                "value": local(2026, 5, 1, 20, 0, 0, tz=tokyo),
            },
        ],
    }
    assert ids_of(fresh.search_all("contacts", query)) == {contact["id"]}
    fresh.admin("POST", "config", {"timezone": "UTC"})
    assert fresh.get("/me").json()["app"]["timezone"] == "UTC"
    assert ids_of(fresh.search_all("contacts", query)) == set()


@pytest.mark.parametrize("op", [">=", "<=", "!=", "IN", "NIN"])
def test_unsupported_operators_on_dates_are_errors(seeded: Client, op: str) -> None:
    value: Any = [1_700_000_000] if op in {"IN", "NIN"} else 1_700_000_000
    resp = seeded.post(
        "/contacts/search", {"query": {"field": "created_at", "operator": op, "value": value}}
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "parameter_invalid"


def test_date_value_must_be_a_timestamp(seeded: Client) -> None:
    resp = seeded.post(
        "/contacts/search", {"query": {"field": "created_at", "operator": ">", "value": "foobar"}}
    )
    assert resp.status_code == 400


def test_nesting_is_limited_to_two_levels(seeded: Client) -> None:
    leaf = {"field": "role", "operator": "=", "value": "lead"}
    two = {"operator": "AND", "value": [{"operator": "OR", "value": [leaf, leaf]}, leaf]}
    assert seeded.post("/contacts/search", {"query": two}).status_code == 200
    three = {
        "operator": "AND",
        "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf]}]}],
    }
    resp = seeded.post("/contacts/search", {"query": three})
    assert resp.status_code == 400 and "nested" in resp.json()["errors"][0]["message"]


def test_at_most_fifteen_filters_per_group(seeded: Client) -> None:
    leaf = {"field": "role", "operator": "=", "value": "lead"}
    ok = seeded.post("/contacts/search", {"query": {"operator": "OR", "value": [leaf] * 15}})
    assert ok.status_code == 200
    resp = seeded.post("/contacts/search", {"query": {"operator": "OR", "value": [leaf] * 16}})
    assert resp.status_code == 400 and "15" in resp.json()["errors"][0]["message"]


def test_string_operators_are_case_insensitive(seeded: Client) -> None:
    manifest = seeded.admin("GET", "seed/manifest")["manifest"]
    upper = manifest["email_uppercase"][0]
    eq = seeded.search_all(
        "contacts", {"field": "email", "operator": "=", "value": "john.smith@example.com"}
    )
    assert upper in ids_of(eq)
    starts = seeded.search_all("contacts", {"field": "email", "operator": "^", "value": "JOHN."})
    assert upper in ids_of(starts)
    assert all(c["email"].lower().startswith("john.") for c in starts)
    ends = seeded.search_all("contacts", {"field": "email", "operator": "$", "value": "@globex.de"})
    assert ends and all(c["email"].endswith("@globex.de") for c in ends)
    contains = seeded.search_all("contacts", {"field": "name", "operator": "~", "value": "müller"})
    assert contains and all("müller" in (c["name"] or "").lower() for c in contains)
    dup = seeded.search_all(
        "contacts", {"field": "email", "operator": "=", "value": "shared.inbox@example.com"}
    )
    assert ids_of(dup) == set(manifest["email_duplicate"])


def test_in_nin_and_not_equal(seeded: Client) -> None:
    everyone = seeded.search_all(
        "contacts", {"field": "role", "operator": "IN", "value": ["lead", "user"]}
    )
    assert len(everyone) == seeded.get("/contacts").json()["total_count"]
    leads = seeded.search_all("contacts", {"field": "role", "operator": "NIN", "value": ["user"]})
    not_users = seeded.search_all("contacts", {"field": "role", "operator": "!=", "value": "user"})
    assert ids_of(leads) == ids_of(not_users)
    assert leads and all(c["role"] == "lead" for c in leads)


def test_custom_attributes_and_tag_id(seeded: Client) -> None:
    hts = seeded.search_all(
        "contacts",
        {"field": "custom_attributes.qualification", "operator": "=", "value": "hand_to_sales"},
    )
    assert 60 <= len(hts) <= 140
    assert all(c["custom_attributes"]["qualification"] == "hand_to_sales" for c in hts)
    big = seeded.search_all(
        "contacts", {"field": "custom_attributes.company_size", "operator": ">=", "value": 400}
    )
    assert big and all(c["custom_attributes"]["company_size"] >= 400 for c in big)
    tag_id = next(
        t["id"] for t in seeded.get("/tags").json()["data"] if t["name"] == "sales-qualified"
    )
    tagged = seeded.search_all("contacts", {"field": "tag_id", "operator": "=", "value": tag_id})
    assert tagged
    for c in tagged[:5]:
        assert tag_id in {t["id"] for t in seeded.get(f"/contacts/{c['id']}/tags").json()["data"]}
    bad = seeded.post(
        "/contacts/search", {"query": {"field": "tag_id", "operator": "IN", "value": [tag_id]}}
    )
    assert bad.status_code == 400
    unknown = seeded.post(
        "/contacts/search",
        {"query": {"field": "custom_attributes.nope", "operator": "=", "value": "x"}},
    )
    assert unknown.status_code == 400


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_sort_orders_across_pages_without_gaps(seeded: Client, order: str) -> None:
    query = {"field": "updated_at", "operator": ">", "value": 1_600_000_000}
    results = seeded.search_all(
        "contacts", query, per_page=37, sort={"field": "updated_at", "order": order}
    )
    stamps = [c["updated_at"] for c in results]
    assert stamps == sorted(stamps, reverse=order == "descending")
    assert len(results) == len(ids_of(results))
    unsorted = seeded.search_all("contacts", query, per_page=150)
    assert ids_of(unsorted) == ids_of(results)
    bad = seeded.post(
        "/contacts/search", {"query": query, "sort": {"field": "updated_at", "order": "sideways"}}
    )
    assert bad.status_code == 400


def test_per_page_is_capped_at_150(seeded: Client) -> None:
    resp = seeded.post(
        "/contacts/search",
        {
            "query": {"field": "role", "operator": "=", "value": "lead"},
            "pagination": {"per_page": 151},
        },
    )
    assert resp.status_code == 400
    page = seeded.post(
        "/contacts/search",
        {
            "query": {"field": "role", "operator": "=", "value": "lead"},
            "pagination": {"per_page": 150},
        },
    ).json()
    assert len(page["data"]) == min(150, page["total_count"])


def test_new_contacts_become_searchable_after_the_delay(fresh: Client) -> None:
    fresh.admin("POST", "clock", {"now": 1_790_000_000})
    fresh.admin("POST", "config", {"search_delay_seconds": 300})
    cid = fresh.post("/contacts", {"role": "lead", "email": "late.index@example.com"}).json()["id"]
    query = {"field": "email", "operator": "=", "value": "late.index@example.com"}
    assert fresh.search_all("contacts", query) == []
    assert fresh.get(f"/contacts/{cid}").status_code == 200
    fresh.admin("POST", "clock", {"advance": 301})
    assert ids_of(fresh.search_all("contacts", query)) == {cid}


def test_merged_contacts_are_excluded(fresh: Client) -> None:
    lead = fresh.post("/contacts", {"role": "lead", "email": "merge.me@example.com"}).json()
    user = fresh.post(
        "/contacts", {"role": "user", "email": "merge.me@example.com", "external_id": "merge-user"}
    ).json()
    merged = fresh.post("/contacts/merge", {"from": lead["id"], "into": user["id"]})
    assert merged.status_code == 200 and merged.json()["id"] == user["id"]
    found = fresh.search_all(
        "contacts", {"field": "email", "operator": "=", "value": "merge.me@example.com"}
    )
    assert ids_of(found) == {user["id"]}
    assert fresh.get(f"/contacts/{lead['id']}").status_code == 404


def test_conversation_search(seeded: Client) -> None:
    closed = seeded.search_all(
        "conversations", {"field": "state", "operator": "=", "value": "closed"}
    )
    assert closed and all(c["state"] == "closed" for c in closed)
    conv = closed[0]
    exact = seeded.search_all(
        "conversations",
        {
            "operator": "AND",
            "value": [
                {"field": "updated_at", "operator": ">", "value": conv["updated_at"]},
                {"field": "id", "operator": "=", "value": conv["id"]},
            ],
        },
    )
    assert ids_of(exact) == {conv["id"]}  # '>' includes the value on conversations
    later = seeded.search_all(
        "conversations",
        {
            "operator": "AND",
            "value": [
                {"field": "updated_at", "operator": ">", "value": conv["updated_at"] + 1},
                {"field": "id", "operator": "=", "value": conv["id"]},
            ],
        },
    )
    assert later == []
    contact_id = conv["contacts"]["contacts"][0]["id"]
    by_contact = seeded.search_all(
        "conversations", {"field": "contact_ids", "operator": "=", "value": contact_id}
    )
    assert conv["id"] in ids_of(by_contact)
    assert all(contact_id in {c["id"] for c in x["contacts"]["contacts"]} for x in by_contact)
    sorted_desc = seeded.search_all(
        "conversations",
        {"field": "open", "operator": "=", "value": True},
        per_page=9,
        sort={"field": "updated_at", "order": "descending"},
    )
    stamps = [c["updated_at"] for c in sorted_desc]
    assert stamps == sorted(stamps, reverse=True) and all(c["open"] for c in sorted_desc)
    bad = seeded.post(
        "/conversations/search", {"query": {"field": "updated_at", "operator": ">=", "value": 1}}
    )
    assert bad.status_code == 400
