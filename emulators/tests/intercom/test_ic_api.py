"""Endpoints, auth, versions, envelopes and pagination of the Intercom emulator."""

from __future__ import annotations

import httpx

from .conftest import Client


def test_auth_and_version_errors_use_intercom_envelopes(seeded: Client) -> None:
    anon = httpx.get(f"{seeded.proc.url}/me")
    assert anon.status_code == 401
    body = anon.json()
    assert body["type"] == "error.list" and body["errors"][0]["code"] == "unauthorized"
    bad = httpx.get(f"{seeded.proc.url}/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    version = seeded.get("/me", headers={"Intercom-Version": "9.9"})
    assert version.status_code == 400
    assert version.json()["errors"][0]["code"] == "intercom_version_invalid"
    assert seeded.get("/me", headers={"Intercom-Version": "2.11"}).status_code == 200
    missing = seeded.get("/contacts/doesnotexist")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"


def test_me_carries_workspace_timezone_and_rate_limit_headers(seeded: Client) -> None:
    resp = seeded.get("/me")
    assert resp.status_code == 200
    me = resp.json()
    assert me["type"] == "admin" and me["app"]["timezone"] == "America/Los_Angeles"
    assert me["app"]["id_code"]
    # The 10-second window's figure, ceil(10000 / 6), as Intercom's rate-limiting page shows.
    assert resp.headers["X-RateLimit-Limit"] == "1667"
    assert 0 <= int(resp.headers["X-RateLimit-Remaining"]) <= 1667
    assert int(resp.headers["X-RateLimit-Reset"]) % 10 == 0


def test_contact_list_pages_cover_every_contact_once(seeded: Client) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"per_page": 150}
        if after:
            params["starting_after"] = after
        page = seeded.get("/contacts", params=params).json()
        pages += 1
        assert page["type"] == "list" and page["total_count"] == 400
        assert page["pages"]["page"] == pages and page["pages"]["total_pages"] == 3
        seen.extend(c["id"] for c in page["data"])
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert pages == 3 and len(seen) == 400 and len(set(seen)) == 400
    too_big = seeded.get("/contacts", params={"per_page": 151})
    assert too_big.status_code == 400


def test_contact_lifecycle(seeded: Client) -> None:
    created = seeded.post(
        "/contacts",
        {
            "role": "lead",
            "email": "new.lead@example.com",
            "name": "New Lead",
            "custom_attributes": {"job_title": "CFO"},
        },
    )
    assert created.status_code == 200, created.text
    doc = created.json()
    assert doc["role"] == "lead" and doc["custom_attributes"]["job_title"] == "CFO"
    cid = doc["id"]
    assert seeded.get(f"/contacts/{cid}").json()["email"] == "new.lead@example.com"
    unknown_attr = seeded.put(f"/contacts/{cid}", {"custom_attributes": {"nope": 1}})
    assert unknown_attr.status_code == 400
    wrong_type = seeded.put(f"/contacts/{cid}", {"custom_attributes": {"company_size": "big"}})
    assert wrong_type.status_code == 400
    updated = seeded.put(
        f"/contacts/{cid}", {"name": "Renamed", "custom_attributes": {"company_size": 42}}
    ).json()
    assert updated["name"] == "Renamed" and updated["custom_attributes"]["company_size"] == 42
    assert updated["custom_attributes"]["job_title"] == "CFO"
    deleted = seeded.delete(f"/contacts/{cid}").json()
    assert deleted == {"type": "contact", "id": cid, "external_id": None, "deleted": True}
    assert seeded.get(f"/contacts/{cid}").status_code == 404


def test_tags_and_companies_sublists_page_on_their_own_urls(seeded: Client) -> None:
    manifest = seeded.admin("GET", "seed/manifest")["manifest"]
    many_tags = manifest["many_tags"][0]
    contact = seeded.get(f"/contacts/{many_tags}").json()
    assert contact["tags"]["total_count"] == 12 and contact["tags"]["has_more"] is True
    assert len(contact["tags"]["data"]) == 10
    tags = seeded.get(contact["tags"]["url"]).json()
    assert tags["type"] == "list" and len(tags["data"]) == 12
    assert all(t["name"] for t in tags["data"])
    many_companies = manifest["many_companies"][0]
    contact = seeded.get(f"/contacts/{many_companies}").json()
    assert contact["companies"]["has_more"] is True
    first = seeded.get(contact["companies"]["url"], params={"per_page": 5}).json()
    assert first["total_count"] == 12 and len(first["data"]) == 5
    assert first["pages"]["total_pages"] == 3
    ids = {
        c["id"]
        for p in (1, 2, 3)
        for c in seeded.get(contact["companies"]["url"], params={"per_page": 5, "page": p}).json()[
            "data"
        ]
    }
    assert len(ids) == 12


def test_tag_and_untag_contact(seeded: Client) -> None:
    tag = seeded.post("/tags", {"name": "emulator-test-tag"}).json()
    cid = seeded.get("/contacts", params={"per_page": 1}).json()["data"][0]["id"]
    assert seeded.post(f"/contacts/{cid}/tags", {"id": tag["id"]}).json()["id"] == tag["id"]
    assert tag["id"] in {t["id"] for t in seeded.get(f"/contacts/{cid}").json()["tags"]["data"]}
    seeded.delete(f"/contacts/{cid}/tags/{tag['id']}")
    assert tag["id"] not in {t["id"] for t in seeded.get(f"/contacts/{cid}/tags").json()["data"]}
    assert any(t["name"] == "sales-qualified" for t in seeded.get("/tags").json()["data"])


def test_admins_teams_data_attributes(seeded: Client) -> None:
    admins = seeded.get("/admins").json()
    assert admins["type"] == "admin.list" and len(admins["admins"]) == 5
    aid = admins["admins"][0]["id"]
    assert seeded.get(f"/admins/{aid}").json()["id"] == aid
    teams = seeded.get("/teams").json()
    assert teams["type"] == "team.list" and teams["teams"]
    attrs = seeded.get("/data_attributes", params={"model": "contact"}).json()["data"]
    names = {a["name"] for a in attrs if a["custom"]}
    assert {"company_size", "job_title", "session_count", "qualification"} <= names


def test_conversation_parts_capped_at_500_and_plaintext(seeded: Client) -> None:
    manifest = seeded.admin("GET", "seed/manifest")["manifest"]
    big = manifest["big_conversations"][0]
    conv = seeded.get(f"/conversations/{big}").json()
    total = conv["statistics"]["count_conversation_parts"]
    assert total > 500
    parts = conv["conversation_parts"]["conversation_parts"]
    assert conv["conversation_parts"]["total_count"] == total
    assert len(parts) == 500
    # The 500 most recent: the last part of the conversation is present, the first is not.
    created = [p["created_at"] for p in parts]
    assert created == sorted(created)
    assert any("<" in (p["body"] or "") for p in parts)
    plain = seeded.get(f"/conversations/{big}", params={"display_as": "plaintext"}).json()
    assert all(
        "<" not in (p["body"] or "") for p in plain["conversation_parts"]["conversation_parts"]
    )
    assert [p["id"] for p in plain["conversation_parts"]["conversation_parts"]] == [
        p["id"] for p in parts
    ]


def test_conversation_list_is_newest_first_and_complete(seeded: Client) -> None:
    seen = []
    after = None
    while True:
        params = {"per_page": 25}
        if after:
            params["starting_after"] = after
        page = seeded.get("/conversations", params=params).json()
        assert page["type"] == "conversation.list"
        seen.extend(page["conversations"])
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert len({c["id"] for c in seen}) == len(seen) >= 60
    updated = [c["updated_at"] for c in seen]
    assert updated == sorted(updated, reverse=True)
    assert all("conversation_parts" not in c for c in seen)


def test_conversation_reply_close_tag(seeded: Client) -> None:
    admin_id = seeded.get("/admins").json()["admins"][0]["id"]
    conv = seeded.get("/conversations", params={"per_page": 1}).json()["conversations"][0]
    cid = conv["contacts"]["contacts"][0]["id"]
    before = conv["statistics"]["count_conversation_parts"]
    after_reply = seeded.post(
        f"/conversations/{conv['id']}/reply",
        {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": cid,
            "body": "Still waiting",
        },
    ).json()
    assert after_reply["state"] == "open"
    assert after_reply["statistics"]["count_conversation_parts"] == before + 1
    closed = seeded.post(
        f"/conversations/{conv['id']}/parts",
        {"message_type": "close", "type": "admin", "admin_id": admin_id},
    ).json()
    assert closed["state"] == "closed" and closed["open"] is False
    assert closed["conversation_parts"]["conversation_parts"][-1]["part_type"] == "close"
    tag_id = seeded.get("/tags").json()["data"][0]["id"]
    tag = seeded.post(f"/conversations/{conv['id']}/tags", {"id": tag_id, "admin_id": admin_id})
    assert tag.status_code == 200 and tag.json()["id"] == tag_id
    tagged = seeded.get(f"/conversations/{conv['id']}").json()
    assert tag_id in {t["id"] for t in tagged["tags"]["tags"]}
    bad = seeded.post(f"/conversations/{conv['id']}/reply", {"message_type": "comment"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "parameter_invalid"


def test_events_and_summaries(seeded: Client) -> None:
    cid = seeded.get("/contacts", params={"per_page": 1}).json()["data"][0]["id"]
    for ts in (1_700_000_000, 1_700_000_500, 1_700_000_100):
        resp = seeded.post(
            "/events",
            {"event_name": "emulator-tested", "created_at": ts, "id": cid, "metadata": {"k": "v"}},
        )
        assert resp.status_code == 202
    summary = seeded.get(
        "/events", params={"type": "user", "intercom_user_id": cid, "summary": "true"}
    ).json()
    assert summary["type"] == "event.summary"
    ev = next(e for e in summary["events"] if e["name"] == "emulator-tested")
    assert ev["count"] == 3
    assert ev["first"].startswith("2023-11-14T22:13:20") and ev["last"].startswith(
        "2023-11-14T22:21:40"
    )
    listing = seeded.get("/events", params={"type": "user", "intercom_user_id": cid}).json()
    assert sum(e["event_name"] == "emulator-tested" for e in listing["events"]) == 3
    missing = seeded.get("/events", params={"type": "user", "intercom_user_id": "nobody"})
    assert missing.status_code == 404


def test_companies_list_retrieve_and_single_scroll(seeded: Client) -> None:
    listed = seeded.post("/companies/list", params={"per_page": 5}).json()
    assert listed["type"] == "list" and listed["total_count"] == 16
    company = listed["data"][0]
    assert {"size", "industry", "website"} <= set(company)
    by_cid = seeded.get("/companies", params={"company_id": company["company_id"]}).json()
    assert [c["id"] for c in by_cid["data"]] == [company["id"]]
    seen = []
    first = seeded.get("/companies/scroll")
    assert first.status_code == 200
    second_open = seeded.get("/companies/scroll")
    assert second_open.status_code == 400  # one scroll per app
    page = first.json()
    while page["data"]:
        seen.extend(c["id"] for c in page["data"])
        page = seeded.get("/companies/scroll", params={"scroll_param": page["scroll_param"]}).json()
    assert len(seen) == len(set(seen)) == 16
    assert seeded.get("/companies/scroll").status_code == 200  # the finished scroll closed
    stale = seeded.get("/companies/scroll", params={"scroll_param": "bogus"})
    assert stale.status_code == 404


def test_stats_count_api_calls_by_route_template(seeded: Client) -> None:
    seeded.proc.reset_stats()
    cid = seeded.get("/contacts", params={"per_page": 2}).json()["data"][0]["id"]
    seeded.get(f"/contacts/{cid}")
    seeded.get(f"/contacts/{cid}")
    seeded.proc.admin("GET", "health")
    stats = seeded.proc.stats()
    assert stats["api_calls"] == 3
    assert stats["by_endpoint"] == {"GET /contacts": 1, "GET /contacts/{contact_id}": 2}
    assert stats["status_counts"] == {"200": 3}
    log = seeded.admin("GET", "requests?limit=2")
    assert [e["path"] for e in log] == [f"/contacts/{cid}"] * 2
    assert all("emulator-token" not in str(e) for e in log)
