"""Contacts (incremental through search) and their data-event summaries."""

from __future__ import annotations

import copy
import typing as t
from urllib.parse import parse_qsl, urlparse

from intercom_client.errors import NotFoundError
from intercom_client.paging import response_json
from singer_sdk import typing as th
from typing_extensions import override

from tap_intercom_events import schemas
from tap_intercom_events.client import IntercomStream
from tap_intercom_events.streams.by_id import ReadById
from tap_intercom_events.streams.companies import CompaniesStream
from tap_intercom_events.streams.search import ChildrenAfterParent, IncrementalSearchStream
from tap_intercom_events.timestamps import convert, parse_rfc3339, to_rfc3339

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context


def _contact_schema() -> dict:
    schema = copy.deepcopy(schemas.CONTACT_OBJECT.to_dict())
    # The tap fills in each tag's name, which Intercom leaves out of the contact.
    tag_item = schema["properties"]["tags"]["properties"]["data"]["items"]
    tag_item["properties"]["name"] = {"type": ["string", "null"]}
    return schema


class ContactsStream(ReadById, ChildrenAfterParent, IncrementalSearchStream):
    """``POST /contacts/search``: contacts changed since the bookmark, oldest first.

    In inbox mode, ``GET /contacts/{id}`` for each contact of the batch instead.
    """

    name = "contacts"
    path = "/contacts/search"
    item_path = "/contacts/{id}"
    records_key = "data"
    schema = _contact_schema()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        """Search, or (inbox mode) re-read the contacts of the batch."""
        if self.read_ids is not None:
            return self.records_by_id(context)
        return super().get_records(context)

    @override
    def record_from_response(self, response: requests.Response) -> tuple[dict, t.Any]:
        """The contact as search lists it, and its companies (read unless emitted lately)."""
        record = convert(response_json(response), self.timestamp_plan)
        companies = self._companies_stream()
        if companies is None:
            return record, None
        refs = (record.get("companies") or {}).get("data") or []
        ids = [str(ref["id"]) for ref in refs if isinstance(ref, dict) and ref.get("id")]
        return record, companies.read_by_id(ids)

    @override
    def before_emit(self, record: dict, extra: t.Any) -> None:
        """The contact's companies go out before it, as a sync emits companies first."""
        companies = self._companies_stream()
        if extra and companies is not None:
            companies.emit_by_id(extra)

    def _companies_stream(self) -> CompaniesStream | None:
        stream = self._tap.streams.get("companies")
        return stream if isinstance(stream, CompaniesStream) and stream.selected else None

    def children_wanted(self, record: dict) -> bool:
        """Data-event summaries cost one call per contact: only when asked for."""
        return bool(self.config.get("fetch_event_summaries"))

    @override
    def emitted_children(self) -> list[str]:
        """Event summaries go with each contact only when asked for."""
        return super().emitted_children() if self.children_wanted({}) else []

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """The contact's id for its event summaries."""
        return {"contact_id": record["id"]}

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        """Complete the tag and company sub-lists and name every tag."""
        tags = row.get("tags")
        if isinstance(tags, dict):
            if tags.get("has_more"):
                tags["data"] = self._all_tags(row["id"], context)
                tags["has_more"] = False
            if items := tags.get("data"):
                names = self._tap.tag_names(self)  # type: ignore[attr-defined]
                for item in items:
                    if not item.get("name"):
                        tag_id = item.get("id")
                        name = names.get(tag_id)
                        if name is None:
                            name = self._tap.tag_name(tag_id, self)  # type: ignore[attr-defined]
                        item["name"] = name
        companies = row.get("companies")
        if isinstance(companies, dict) and companies.get("has_more"):
            companies["data"] = self._all_companies(row["id"], context)
            companies["has_more"] = False
        return row

    def _all_tags(self, contact_id: str, context: Context | None) -> list[dict]:
        payload = self.call_api("GET", f"/contacts/{contact_id}/tags", context=context)
        return [
            {
                "type": "tag",
                "id": tag.get("id"),
                "url": f"/tags/{tag.get('id')}",
                "name": tag.get("name"),
            }
            for tag in payload.get("data") or []
        ]

    def _all_companies(self, contact_id: str, context: Context | None) -> list[dict]:
        found: list[dict] = []
        path = f"/contacts/{contact_id}/companies"
        params: dict[str, t.Any] = {}
        for _ in range(1000):  # a contact has at most 1,000 companies
            payload = self.call_api("GET", path, params=params, context=context)
            for company in payload.get("companies") or payload.get("data") or []:
                found.append(
                    {
                        "type": "company",
                        "id": company.get("id"),
                        "url": f"/companies/{company.get('id')}",
                    }
                )
            nxt = (payload.get("pages") or {}).get("next")
            if not nxt or not isinstance(nxt, str):
                break
            params = dict(parse_qsl(urlparse(nxt).query))
        return found


def _utc(value: t.Any) -> t.Any:
    """Intercom writes these as ISO strings with milliseconds and an offset.

    Answers the same form as every other timestamp of the tap.
    """
    if isinstance(value, str) and value:
        try:
            return to_rfc3339(parse_rfc3339(value))
        except ValueError:
            return value
    return value


class ContactEventSummariesStream(IntercomStream):
    """``GET /events?type=user&intercom_user_id=...&summary=true`` for each contact read.

    Opt in with the ``fetch_event_summaries`` setting: it costs one call per contact.
    """

    name = "contact_event_summaries"
    parent_stream_type = ContactsStream
    path = "/events"
    records_key = "events"
    primary_keys: t.ClassVar[list[str]] = ["contact_id", "name"]
    # One state entry for the stream, not one per contact.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema = th.PropertiesList(
        th.Property("contact_id", th.StringType, required=True),
        th.Property("name", th.StringType, required=True),
        th.Property("first", th.DateTimeType),
        th.Property("last", th.DateTimeType),
        th.Property("count", th.IntegerType),
        th.Property("description", th.StringType),
    ).to_dict()

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict:
        """Summaries of one contact's data events."""
        assert context is not None
        return {"type": "user", "intercom_user_id": context["contact_id"], "summary": "true"}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """One record per event name."""
        plan = self.timestamp_plan
        for event in response_json(response).get("events") or ():
            yield convert(
                {
                    "name": event.get("name"),
                    "first": _utc(event.get("first")),
                    "last": _utc(event.get("last")),
                    "count": event.get("count"),
                    "description": event.get("description"),
                },
                plan,
            )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        """Tag each summary with its contact; a contact deleted meanwhile has none."""
        assert context is not None
        contact_id = context["contact_id"]
        try:
            for record in self.request_records(context):
                record["contact_id"] = contact_id
                yield record
        except NotFoundError:
            self.logger.info("contact %s disappeared before its events were read", contact_id)
