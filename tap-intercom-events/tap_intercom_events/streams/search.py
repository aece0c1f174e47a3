"""Incremental reading through Intercom's search endpoints, losing nothing.

Search matches timestamps by calendar day in the workspace's timezone, so the query is widened
to whole days and the exact bound is applied here. The bookmark is clamped so that it never
passes the point where this sync started (the newest ``updated_at`` in the index when the sync
began, minus ``lookback_window`` for Intercom's search-index delay): anything that changes while
the sync runs is read again by the next one. See the README for the whole argument.

Records of the window that come back with the ``updated_at`` they had when they were emitted are
not emitted again, nor are their children (:mod:`tap_intercom_events.seen`).
"""

from __future__ import annotations

import typing as t

from intercom_client.paging import response_json
from typing_extensions import override

from tap_intercom_events import seen
from tap_intercom_events.client import IntercomStream
from tap_intercom_events.pagination import PagesAhead, StartingAfterPaginator
from tap_intercom_events.sdk_hooks import BookmarkKeptBySearch, ChildrenAfterRecord
from tap_intercom_events.timestamps import convert, to_rfc3339

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context, Record


class ChildrenAfterParent(ChildrenAfterRecord):
    """Emit a record's child records right after the record, before the next STATE.

    The SDK syncs children before it writes the parent's record; downstream consumers of this
    tap (the mapper) need the parent first (the writing half is
    :class:`~tap_intercom_events.sdk_hooks.ChildrenAfterRecord`).
    """

    def emitted_children(self) -> list[str]:
        """Names of the child streams synced with each record.

        Part of the memory's signature: a record emitted without them is not "already emitted"
        once they are on.
        """
        return [
            child.name
            for child in self.child_streams
            if child.selected or child.has_selected_descendents
        ]

    def children_wanted(self, record: dict) -> bool:
        """Whether this record's children should be synced at all."""
        return True

    @override
    def generate_child_contexts(
        self, record: Record, context: Context | None
    ) -> Iterable[Context | None]:
        """Hold the child context back until the record itself has been written."""
        if not self.children_wanted(record):  # noqa: SIM102 - two distinct reasons
            return
        if self.selected:
            if self.stream_maps[0].get_filter_result(record):
                self._pending_child_context = self.get_child_context(record, context)
            return
        # Parent not selected: no record of its own to come first.
        yield self.get_child_context(record, context)


DAY = 86_400


class IncrementalSearchStream(BookmarkKeptBySearch, IntercomStream):
    """``POST /<resource>/search`` sorted by ``updated_at``, widened to days, clamped."""

    http_method = "POST"
    replication_key = "updated_at"
    is_sorted = True
    #: Sortedness is enforced on our side (the bookmark only moves forward).
    check_sorted = False
    #: Resumable progress every few pages (the SDK's default is every 10,000 records).
    STATE_MSG_FREQUENCY = 1000

    _floor = 0
    _query_from = 0
    _ceiling: int | None = None
    _bookmark = 0
    _saved = 0
    _unsaved = 0
    _memory: seen.EmittedMemory | None = None
    _settled_before: int | None = None
    #: Records between updates of the bookmark in the state (a lagging bookmark only means a
    #: few records are read again after an interruption).
    bookmark_every = 100

    @override
    def get_new_paginator(self) -> StartingAfterPaginator:
        """Cursor pagination, cursor in the request body."""
        return StartingAfterPaginator()

    def _search_body(self, order: str, per_page: int, cursor: str | None = None) -> dict:
        pagination: dict[str, t.Any] = {"per_page": per_page}
        if cursor:
            pagination["starting_after"] = cursor
        return {
            "query": {"field": "updated_at", "operator": ">", "value": self._query_from},
            "pagination": pagination,
            "sort": {"field": "updated_at", "order": order},
        }

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: str | None) -> dict:
        """Oldest first, so the bookmark can follow the records."""
        return self._search_body("ascending", self.page_size, next_page_token)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        """Read the window; move the bookmark past each record once the SDK has written it.

        Records already emitted at the same ``updated_at`` are passed over (bookmark only).
        """
        for updated, record in self.search_records(context):
            if record is None:
                self.passed_unchanged(updated, context)
                continue
            record_id = record.get("id")
            yield record
            # Back here only once the SDK has written this record and its children.
            self.written(record_id, updated, context)
        self.finish_window(context)

    def emitted_children(self) -> list[str]:
        """Child streams emitted with each record (none for a stream without children)."""
        return []

    def memory_signature(self) -> str:
        """What is emitted with each record.

        This stream if selected, its children, and the settings that reshape records (stream
        maps, flattening).
        """
        names = [self.name] if self.selected else []
        names += self.emitted_children()
        maps = {
            key: self.config[key]
            for key in (
                "stream_maps",
                "stream_map_config",
                "flattening_enabled",
                "flattening_max_depth",
            )
            if self.config.get(key)
        }
        return seen.signature(names, maps)

    def _load_memory(self, context: Context | None) -> seen.EmittedMemory:
        limit = self.config.get("emitted_memory_size")
        limit = seen.DEFAULT_LIMIT if limit is None else int(limit)
        state = self.get_context_state(context)
        memory = seen.EmittedMemory.from_state(state, self.memory_signature(), limit, self._floor)
        memory.settled_before = self._settled_before
        memory.attach(state)
        return memory

    def written(self, record_id: t.Any, updated: t.Any, context: Context | None) -> None:
        """A record and its children are written: remember it, move the bookmark past it."""
        memory = self._memory
        if memory is not None and record_id is not None:
            memory.remember(record_id, updated)
        self.advance_bookmark(updated, context)

    def passed_unchanged(self, updated: t.Any, context: Context | None) -> None:
        """A record emitted before at this ``updated_at`` was passed over."""
        self.advance_bookmark(updated, context)

    def finish_window(self, context: Context | None) -> None:
        """The whole window is read: trim the memory to the bookmark and save both."""
        memory = self._memory
        if memory is not None:
            memory.compact(self._bookmark)
            if memory.skipped:
                self.logger.info(
                    "%s: %d records unchanged since they were emitted (same updated_at) were "
                    "not emitted again, nor their children",
                    self.name,
                    memory.skipped,
                )
            if memory.evicted:
                self.logger.info(
                    "%s: %d records of the lookback window were not kept in the state's "
                    "memory (emitted_memory_size is %d); the next sync emits them again if "
                    "they come back",
                    self.name,
                    memory.evicted,
                    memory.limit,
                )
            self.state_manager.is_flushed = False
        self._save_bookmark(context)

    def search_records(self, context: Context | None) -> Iterable[tuple[t.Any, dict | None]]:
        """Plan the window (floor, widened query, ceiling), then yield ``(updated_at, record)``.

        With the raw ``updated_at`` of each record at or after the floor; ``record`` is None
        for a record already emitted at that ``updated_at`` (see :mod:`..seen`).

        With a saved bookmark the window is first read newest first (:meth:`_read_window`):
        its first page doubles as the ceiling probe, the reading stops at the floor, and no
        timezone is needed. A window larger than :attr:`window_pages` pages (or a first sync)
        is read oldest first after the probe, as the bookmark can then follow the records
        without holding them all.
        """
        start = self.get_starting_timestamp(context)
        self._floor = int(start.timestamp()) if start else 0
        self._bookmark = self._saved = self._floor
        self._unsaved = 0
        self._ceiling = self._settled_before = None
        window: list[dict] | None = None
        probed = False
        if self._floor > 0 and self._has_saved_bookmark(context):
            window, probed = self._read_window(context)
        if window is None:
            self._query_from = self._tap.search_value_before(self._floor, self)  # type: ignore[attr-defined]
            if not probed:
                self._ceiling = self._probe_ceiling(context)
        self._memory = memory = self._load_memory(context)
        self.logger.info(
            "%s: reading records updated at or after %s (search from day value %s%s); "
            "the bookmark will not pass %s",
            self.name,
            to_rfc3339(self._floor),
            self._query_from,
            ", newest first, one go" if window is not None else "",
            to_rfc3339(self._ceiling) if self._ceiling is not None else "its current value",
        )
        plan = self.timestamp_plan
        floor = self._floor
        key = self.records_key
        unchanged = memory.unchanged
        if window is not None:
            items: Iterable[dict] = window
        else:
            items = (
                item
                for payload in PagesAhead(lambda token: self._fetch_page(token, context))
                for item in payload.get(key) or ()
            )
        for item in items:
            updated = item.get("updated_at")
            # The day-wide query also returns the floor's day before the floor.
            if updated.__class__ is int and updated < floor:
                continue
            if unchanged(item.get("id"), updated):
                yield updated, None
                continue
            yield updated, convert(item, plan)

    #: Pages of a window read newest first and held in memory before falling back to reading
    #: it oldest first (a window that large has changed records' children to read anyway).
    window_pages = 10

    def _has_saved_bookmark(self, context: Context | None) -> bool:
        state = self.get_context_state(context)
        return bool(state.get("replication_key_value"))

    def _read_window(self, context: Context | None) -> tuple[list[dict] | None, bool]:
        """The records from the floor on, read newest first in at most :attr:`window_pages` pages.

        Answered oldest first; ``(None, probed)`` when the window is larger.

        The first page is the ceiling probe: its first record is the newest ``updated_at`` in
        the index and its ``Date`` header Intercom's clock, both before any record was read.
        The query is widened by two days (covers the floor's whole day in any timezone, so no
        ``GET /me``); reading stops at the first record older than the floor. A record that
        changes while the pages are read gets an ``updated_at`` after the newest one, above
        the ceiling, so the next sync reads it whatever page it moved from.
        """
        floor = self._floor
        self._query_from = max(floor - 2 * DAY, 0)
        key = self.records_key
        newest_first: list[dict] = []
        cursor: str | None = None
        for page in range(self.window_pages):
            response = self.call_api_response(
                "POST",
                self.path or "",
                body=self._search_body("descending", self.page_size, cursor),
                context=context,
            )
            payload = response_json(response)
            items = payload.get(key) or []
            if page == 0:
                newest = items[0].get("updated_at") if items else None
                self._set_ceiling(newest, response.headers.get("Date"))
            for item in items:
                updated = item.get("updated_at")
                if updated.__class__ is int and updated < floor:
                    newest_first.reverse()
                    return newest_first, True
                newest_first.append(item)
            cursor = StartingAfterPaginator().get_next(response)
            if not cursor:
                newest_first.reverse()
                return newest_first, True
        self.logger.info(
            "%s: more than %d pages changed since the bookmark; reading them oldest first",
            self.name,
            self.window_pages,
        )
        return None, True

    def advance_bookmark(self, updated: t.Any, context: Context | None) -> None:
        """Move the bookmark to a written record's ``updated_at``, never past the ceiling."""
        ceiling = self._ceiling
        if ceiling is None or updated.__class__ is not int:
            return
        mark = updated if updated < ceiling else ceiling
        if mark > self._bookmark:
            self._bookmark = mark
            self._unsaved += 1
            if self._unsaved >= self.bookmark_every:
                self._save_bookmark(context)

    def _fetch_page(self, cursor: str | None, context: Context | None) -> tuple[dict, str | None]:
        """One page of the search (runs in the prefetching thread)."""
        response = self.call_api_response(
            "POST",
            self.path or "",
            body=self.prepare_request_payload(context, cursor),
            context=context,
        )
        payload = response_json(response)
        self.note_total(payload)
        return payload, StartingAfterPaginator().get_next(response)

    def _probe_ceiling(self, context: Context | None) -> int | None:
        """The newest ``updated_at`` searchable now, minus the lookback window.

        Every record that changes after this call gets an ``updated_at`` at least as recent as
        this value, so a bookmark at or below it cannot skip such a record.
        """
        response = self.call_api_response(
            "POST", self.path or "", body=self._search_body("descending", 1), context=context
        )
        payload = response_json(response)
        items = payload.get(self.records_key) or []
        self._set_ceiling(
            items[0].get("updated_at") if items else None, response.headers.get("Date")
        )
        return self._ceiling

    def _set_ceiling(self, newest: t.Any, date_header: str | None) -> None:
        """The ceiling (and what may be remembered).

        From the newest ``updated_at`` searchable when the sync started and Intercom's ``Date``
        header then.
        """
        newest = int(newest) if newest is not None else None
        # Answered before any record is read: what it proves about the clock decides which
        # records may be remembered as emitted.
        self._settled_before = seen.settled_before(newest, date_header)
        if newest is None:
            self._ceiling = None
            return
        lookback = int(self.config.get("lookback_window", 600) or 0)
        self._ceiling = newest - lookback

    def _save_bookmark(self, context: Context | None) -> None:
        """Put the bookmark into the stream's state (the next STATE message carries it)."""
        self._unsaved = 0
        if self._memory is not None:
            self._memory.forget_before(self._bookmark)
        if self._bookmark > self._saved:
            self._saved = self._bookmark
            self.save_bookmark_state(
                {self.replication_key: to_rfc3339(self._bookmark)}, context=context
            )
