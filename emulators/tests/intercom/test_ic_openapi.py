"""Every response of every implemented operation, and the request bodies, checked against
Intercom's published OpenAPI 2.14 description with openapi-core."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import SPEC_PATH, Client

openapi_core = pytest.importorskip("openapi_core")
from openapi_core import Config, OpenAPI  # noqa: E402
from openapi_core.datatypes import RequestParameters  # noqa: E402
from openapi_core.templating.responses.exceptions import ResponseNotFound  # noqa: E402
from werkzeug.datastructures import Headers, ImmutableMultiDict  # noqa: E402

if not SPEC_PATH.exists():
    pytest.skip(f"the Intercom OpenAPI description is not at {SPEC_PATH}", allow_module_level=True)


class SpecRequest:
    """An emulator request in the shape openapi-core reads, as if sent to api.intercom.io."""

    def __init__(self, method: str, path: str, query: dict[str, Any], body: Any) -> None:
        self.host_url = "https://api.intercom.io"
        self.path = path
        self.method = method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict({k: str(v) for k, v in query.items()}),
            header=Headers({"Authorization": "Bearer emulator-token", "Intercom-Version": "2.14"}),
            cookie=ImmutableMultiDict(),
        )
        self.body = None if body is None else json.dumps(body).encode()
        self.content_type = "application/json"


class SpecResponse:
    def __init__(self, resp: httpx.Response) -> None:
        self.status_code = resp.status_code
        self.headers = Headers(dict(resp.headers))
        self.content_type = "application/json"
        self.data = resp.content


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_path(SPEC_PATH, config=Config(spec_validator_cls=None))


class Checker:
    """Sends a call to the emulator and validates the request and the response."""

    def __init__(self, client: Client, spec: OpenAPI) -> None:
        self.client = client
        self.spec = spec
        self.validated: set[str] = set()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        template: str | None = None,
        expect: int = 200,
        check_request: bool = True,
    ) -> Any:
        query = query or {}
        request = SpecRequest(method, path, query, body)
        if body is not None and check_request:
            self.spec.validate_request(request)
        resp = self.client.http.request(
            method, path, params=query, json=body if body is not None else None
        )
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        if resp.content:
            # The description may leave this status out for the operation (e.g. 202 for
            # events): the emulator still answers Intercom's shapes, checked by the caller.
            with contextlib.suppress(ResponseNotFound):
                self.spec.validate_response(request, SpecResponse(resp))
        self.validated.add(f"{method} {template or path}")
        return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def check(seeded: Client, spec: OpenAPI) -> Iterator[Checker]:
    yield Checker(seeded, spec)


def test_every_seeded_contact_matches_the_contact_list_schema(check: Checker) -> None:
    after = None
    count = 0
    while True:
        query: dict[str, Any] = {"per_page": 150}
        if after:
            query["starting_after"] = after
        page = check.call("GET", "/contacts", query=query)
        count += len(page["data"])
        after = (page["pages"].get("next") or {}).get("starting_after")
        if not after:
            break
    assert count == page["total_count"]


def test_awkward_contacts_match_the_contact_schema(check: Checker) -> None:
    manifest = check.client.admin("GET", "seed/manifest")["manifest"]
    awkward = [
        cid
        for key, ids in manifest.items()
        if key.startswith(("name_", "email_", "long_", "many_"))
        for cid in ids
    ]
    assert len(awkward) >= 18
    for cid in awkward:
        contact = check.call("GET", f"/contacts/{cid}", template="/contacts/{id}")
        assert contact["id"] == cid


def test_every_conversation_matches_the_conversation_schema(check: Checker) -> None:
    page = check.call("GET", "/conversations", query={"per_page": 150})
    assert page["conversations"]
    for conv in page["conversations"]:
        check.call("GET", f"/conversations/{conv['id']}", template="/conversations/{id}")
    big = check.client.admin("GET", "seed/manifest")["manifest"]["big_conversations"][0]
    check.call(
        "GET",
        f"/conversations/{big}",
        query={"display_as": "plaintext"},
        template="/conversations/{id}",
    )


def test_workspace_endpoints_match(check: Checker) -> None:
    me = check.call("GET", "/me")
    check.call("GET", "/admins")
    check.call("GET", f"/admins/{me['id']}", template="/admins/{id}")
    teams = check.call("GET", "/teams")
    check.call("GET", f"/teams/{teams['teams'][0]['id']}", template="/teams/{id}")
    tags = check.call("GET", "/tags")
    check.call("GET", f"/tags/{tags['data'][0]['id']}", template="/tags/{id}")
    made = check.call("POST", "/tags", {"name": "openapi-checked"})
    check.call("DELETE", f"/tags/{made['id']}", template="/tags/{id}")
    assert check.client.get(f"/tags/{made['id']}").status_code == 404
    check.call("GET", "/data_attributes", query={"model": "contact"})
    check.call(
        "POST",
        "/data_attributes",
        {"name": "openapi_score", "model": "contact", "data_type": "integer"},
    )


def test_contact_operations_match(check: Checker) -> None:
    created = check.call(
        "POST",
        "/contacts",
        {
            "role": "user",
            "email": "openapi.user@example.com",
            "external_id": "openapi-1",
            "name": "Open Api",
            "custom_attributes": {"job_title": "Validator"},
        },
    )
    cid = created["id"]
    check.call(
        "PUT",
        f"/contacts/{cid}",
        {"name": "Open API", "custom_attributes": {"company_size": 12}},
        template="/contacts/{id}",
    )
    check.call("GET", f"/contacts/{cid}/notes", template="/contacts/{id}/notes")
    check.call(
        "GET",
        "/contacts/find_by_external_id/openapi-1",
        template="/contacts/find_by_external_id/{external_id}",
    )
    tag_id = check.call("GET", "/tags")["data"][0]["id"]
    check.call("POST", f"/contacts/{cid}/tags", {"id": tag_id}, template="/contacts/{id}/tags")
    check.call("GET", f"/contacts/{cid}/tags", template="/contacts/{id}/tags")
    check.call("DELETE", f"/contacts/{cid}/tags/{tag_id}", template="/contacts/{id}/tags/{tag_id}")
    company = check.call("POST", "/companies/list", query={"per_page": 1})["data"][0]
    check.call(
        "POST",
        f"/contacts/{cid}/companies",
        {"id": company["id"]},
        template="/contacts/{id}/companies",
    )
    check.call("GET", f"/contacts/{cid}/companies", template="/contacts/{id}/companies")
    check.call(
        "DELETE",
        f"/contacts/{cid}/companies/{company['id']}",
        template="/contacts/{id}/companies/{company_id}",
    )
    lead = check.call("POST", "/contacts", {"role": "lead", "email": "openapi.lead@example.com"})
    check.call("POST", "/contacts/merge", {"from": lead["id"], "into": cid})
    check.call("POST", f"/contacts/{cid}/archive", template="/contacts/{id}/archive")
    check.call("POST", f"/contacts/{cid}/unarchive", template="/contacts/{id}/unarchive")
    check.call("DELETE", f"/contacts/{cid}", template="/contacts/{id}")


def test_segment_and_activity_log_endpoints_match(check: Checker) -> None:
    listed = check.call("GET", "/segments", query={"include_count": "true"})
    assert listed["segments"] and all("count" in s for s in listed["segments"])
    check.call("GET", "/segments")
    check.call("GET", f"/segments/{listed['segments'][0]['id']}", template="/segments/{id}")
    contact = check.call("GET", "/contacts", query={"per_page": 1})["data"][0]
    attached = check.call(
        "GET", f"/contacts/{contact['id']}/segments", template="/contacts/{id}/segments"
    )
    assert attached["data"]
    companies = check.call("POST", "/companies/list", query={"per_page": 50})["data"]
    enterprise = next(c for c in companies if (c.get("plan") or {}).get("name") == "enterprise")
    found = check.call(
        "GET", f"/companies/{enterprise['id']}/segments", template="/companies/{id}/segments"
    )
    assert found["data"]
    check.call("GET", "/companies/nope/segments", template="/companies/{id}/segments", expect=404)
    logs = check.call(
        "GET", "/admins/activity_logs", query={"created_at_after": "0", "per_page": 10}
    )
    assert len(logs["activity_logs"]) == 10 and logs["pages"]["next"]["starting_after"]
    check.call(
        "GET",
        "/admins/activity_logs",
        query={
            "created_at_after": "0",
            "created_at_before": str(logs["activity_logs"][0]["created_at"]),
            "starting_after": logs["pages"]["next"]["starting_after"],
        },
    )


def test_search_responses_match(check: Checker) -> None:
    check.call(
        "POST",
        "/contacts/search",
        {
            "query": {
                "operator": "AND",
                "value": [
                    {"field": "updated_at", "operator": ">", "value": 1_600_000_000},
                    {"field": "role", "operator": "=", "value": "lead"},
                ],
            },
            "pagination": {"per_page": 150},
        },
    )
    check.call(
        "POST",
        "/conversations/search",
        {
            "query": {
                "operator": "OR",
                "value": [
                    {"field": "state", "operator": "=", "value": "closed"},
                    {"field": "state", "operator": "=", "value": "snoozed"},
                ],
            },
            "pagination": {"per_page": 150},
        },
    )


def test_company_operations_match(check: Checker) -> None:
    check.call("GET", "/companies", query={"per_page": 5})
    listed = check.call("POST", "/companies/list", query={"per_page": 5})
    company = listed["data"][0]
    check.call("GET", "/companies", query={"company_id": company["company_id"]})
    check.call("GET", f"/companies/{company['id']}", template="/companies/{id}")
    check.call("GET", f"/companies/{company['id']}/contacts", template="/companies/{id}/contacts")
    page = check.call("GET", "/companies/scroll")
    while page["data"]:
        page = check.call("GET", "/companies/scroll", query={"scroll_param": page["scroll_param"]})
    check.call(
        "POST",
        "/companies",
        {"company_id": "openapi-co", "name": "OpenAPI GmbH", "size": 40, "industry": "Software"},
    )


def test_conversation_operations_match(check: Checker) -> None:
    admin_id = check.call("GET", "/admins")["admins"][0]["id"]
    contact = check.call("GET", "/contacts", query={"per_page": 1})["data"][0]
    msg = check.call(
        "POST",
        "/conversations",
        {"from": {"type": "user", "id": contact["id"]}, "body": "Hello from the spec test"},
        # The description gives `from.id` the `uuid` format, which Intercom's own 24-hex
        # contact ids do not have; the request is checked by the emulator instead.
        check_request=False,
    )
    conv_id = msg["conversation_id"]
    path = f"/conversations/{conv_id}"
    check.call(
        "POST",
        f"{path}/reply",
        {"message_type": "comment", "type": "admin", "admin_id": admin_id, "body": "Hi!"},
        template="/conversations/{id}/reply",
    )
    check.call(
        "POST",
        f"{path}/reply",
        {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": contact["id"],
            "body": "Thanks",
        },
        template="/conversations/{id}/reply",
    )
    check.call(
        "POST",
        f"{path}/parts",
        {
            "message_type": "assignment",
            "type": "admin",
            "admin_id": admin_id,
            "assignee_id": admin_id,
        },
        template="/conversations/{id}/parts",
    )
    check.call(
        "POST",
        f"{path}/parts",
        {"message_type": "close", "type": "admin", "admin_id": admin_id},
        template="/conversations/{id}/parts",
    )
    tag_id = check.call("GET", "/tags")["data"][0]["id"]
    check.call(
        "POST",
        f"{path}/tags",
        {"id": tag_id, "admin_id": admin_id},
        template="/conversations/{id}/tags",
    )
    check.call(
        "DELETE",
        f"{path}/tags/{tag_id}",
        {"admin_id": admin_id},
        template="/conversations/{id}/tags/{tag_id}",
    )
    check.call("PUT", path, {"read": True}, template="/conversations/{id}")
    check.call("DELETE", path, template="/conversations/{id}")


def test_event_operations_match(check: Checker) -> None:
    contact = check.call("GET", "/contacts", query={"per_page": 1})["data"][0]
    check.call(
        "POST",
        "/events",
        {"event_name": "spec-checked", "created_at": 1_700_000_000, "id": contact["id"]},
        expect=202,
    )
    user = check.call(
        "POST",
        "/contacts",
        {"role": "user", "external_id": "events-user", "email": "events.user@example.com"},
    )
    check.call(
        "POST",
        "/events/summaries",
        {
            "user_id": "events-user",
            "event_summaries": {
                "event_name": "summed",
                "count": 3,
                "first": 1_700_000_000,
                "last": 1_700_000_100,
            },
        },
    )
    summed = check.client.get(
        "/events", params={"type": "user", "summary": "true", "intercom_user_id": user["id"]}
    ).json()
    assert [(e["name"], e["count"]) for e in summed["events"]] == [("summed", 3)]
    summary = check.call(
        "GET",
        "/events",
        query={"type": "user", "intercom_user_id": contact["id"], "summary": "true"},
    )
    assert any(e["name"] == "spec-checked" for e in summary["events"])
    # Without summary=true Intercom answers an `event.list`, which the description omits.
    listing = check.client.get(
        "/events", params={"type": "user", "intercom_user_id": contact["id"]}
    ).json()
    assert listing["type"] == "event.list"
    assert any(e["event_name"] == "spec-checked" for e in listing["events"])


def test_error_responses_match(check: Checker) -> None:
    check.call("GET", "/contacts/nobody", template="/contacts/{id}", expect=404)
    resp = httpx.get(f"{check.client.proc.url}/contacts", headers={"Authorization": "Bearer x"})
    request = SpecRequest("GET", "/contacts", {}, None)
    check.spec.validate_response(request, SpecResponse(resp))


BAD_BODIES = [
    ("/contacts/search", {"pagination": {"per_page": 5}}),
    ("/contacts/search", {"query": {"field": "email", "operator": "LIKE", "value": "x"}}),
    ("/conversations/search", {"query": {"field": "state", "operator": "=", "value": {"a": 1}}}),
    ("/tags", {"id": "123"}),
    ("/events", {"event_name": "no-timestamp", "id": "x"}),
    ("/contacts", {"role": 5}),
    ("/data_attributes", {"name": "no_type", "model": "contact"}),
]


@pytest.mark.parametrize(("path", "body"), BAD_BODIES)
def test_bad_request_bodies_are_rejected_like_the_description_says(
    seeded: Client, spec: OpenAPI, path: str, body: dict[str, Any]
) -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - openapi-core raises several kinds
        spec.validate_request(SpecRequest("POST", path, {}, body))
    assert "Invalid" in type(info.value).__name__ or "Error" in type(info.value).__name__
    resp = seeded.post(path, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["code"] == "parameter_invalid"


def test_bad_reply_body_is_rejected(seeded: Client, spec: OpenAPI) -> None:
    conv = seeded.get("/conversations", params={"per_page": 1}).json()["conversations"][0]
    body = {"message_type": "shout", "type": "admin", "admin_id": "1", "body": "x"}
    path = f"/conversations/{conv['id']}/reply"
    with pytest.raises(Exception):  # noqa: B017,PT011
        spec.validate_request(SpecRequest("POST", path, {}, body))
    assert seeded.post(path, body).status_code == 400
