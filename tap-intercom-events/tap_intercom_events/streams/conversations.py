"""Conversations (incremental through search) and their parts, fetched concurrently."""

from __future__ import annotations

import copy
import queue
import threading
import typing as t
from concurrent.futures import Executor, Future

from intercom_client.errors import NotFoundError
from intercom_client.paging import response_json
from typing_extensions import override

from tap_intercom_events import schemas
from tap_intercom_events.client import IntercomStream
from tap_intercom_events.streams.by_id import ReadById
from tap_intercom_events.streams.search import ChildrenAfterParent, IncrementalSearchStream
from tap_intercom_events.timestamps import convert

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

_DONE = object()
_FAILED = object()


class ConversationsStream(ReadById, ChildrenAfterParent, IncrementalSearchStream):
    """``POST /conversations/search``: conversations changed since the bookmark.

    In inbox mode, ``GET /conversations/{id}`` for each conversation of the batch instead: the
    one answer gives the conversation and its parts.
    """

    name = "conversations"
    path = "/conversations/search"
    item_path = "/conversations/{id}"
    records_key = "conversations"
    schema = schemas.CONVERSATION_OBJECT.to_dict()
    #: Each conversation costs a call for its parts: keep the bookmark right behind them.
    bookmark_every = 1

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._prefetched: dict[str, Future] = {}

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """The conversation's id for its parts."""
        return {"conversation_id": record["id"]}

    def _parts_stream(self) -> ConversationPartsStream | None:
        for child in self.child_streams:
            if isinstance(child, ConversationPartsStream) and (
                child.selected or child.has_selected_descendents
            ):
                return child
        return None

    def take_prefetched(self, conversation_id: str) -> Future | None:
        """The pending fetch of a conversation's parts, if one was started."""
        return self._prefetched.pop(conversation_id, None)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        """Read conversations; start fetching each one's parts as soon as it is listed.

        A reader thread pages through the search and hands each conversation, with the future
        of its parts, to this generator through a bounded queue; a pool of ``max_concurrency``
        threads fetches the parts meanwhile. Records still come out in search order. A
        conversation already emitted at the same ``updated_at`` is handed over as None: no
        parts are fetched for it, and only the bookmark moves.

        In inbox mode, the conversations of the batch, re-read by id.
        """
        if self.read_ids is not None:
            try:
                yield from self.records_by_id(context)
            finally:
                self._prefetched.clear()
            return
        parts = self._parts_stream()
        if parts is None:
            yield from super().get_records(context)
            return
        yield from self._records_with_parts(context, parts)

    def _records_with_parts(
        self, context: Context | None, parts: ConversationPartsStream
    ) -> Iterator[dict]:
        """The search's conversations in order, their parts fetched meanwhile by the pool."""
        pool = self._tap.parts_pool()  # type: ignore[attr-defined]
        handoff = _Handoff(maxsize=2 * self.page_size)
        records = self.search_records(context)
        reader = threading.Thread(
            target=_read_ahead,
            args=(records, pool, parts, handoff),
            name="conversations-reader",
            daemon=True,
        )
        reader.start()
        try:
            while True:
                updated, record, future = handoff.queue.get()
                if record is _DONE:
                    break
                if record is _FAILED:
                    raise future
                if record is None:
                    self.passed_unchanged(updated, context)
                    continue
                record_id = record["id"]
                self._prefetched[record_id] = future
                yield record
                # The record and its parts are written: the bookmark may pass it.
                self.written(record_id, updated, context)
            self.finish_window(context)
        finally:
            handoff.stop.set()
            for pending in self._prefetched.values():
                pending.cancel()
            self._prefetched.clear()
            reader.join(timeout=5)

    @override
    def record_from_response(self, response: requests.Response) -> tuple[dict, t.Any]:
        """The conversation as search lists it (without its parts), and its part records."""
        payload = response_json(response)
        parts = self._parts_stream()
        part_records = list(parts.parse_response(response)) if parts is not None else None
        record = {key: value for key, value in payload.items() if key != "conversation_parts"}
        return convert(record, self.timestamp_plan), part_records

    @override
    def before_emit(self, record: dict, extra: t.Any) -> None:
        """The parts read with the conversation go to the parts stream, not read again."""
        if extra is not None:
            done: Future = Future()
            done.set_result(extra)
            self._prefetched[record["id"]] = done


class _Handoff:
    """The bounded queue from the reader thread to the generator, and the signal to stop."""

    def __init__(self, maxsize: int) -> None:
        self.queue: queue.Queue[tuple[t.Any, t.Any, t.Any]] = queue.Queue(maxsize=maxsize)
        self.stop = threading.Event()

    def put(self, item: tuple[t.Any, t.Any, t.Any]) -> bool:
        """Hand ``item`` over; False once the generator has stopped."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False


def _read_ahead(
    records: Iterable[tuple[t.Any, dict | None]],
    pool: Executor,
    parts: ConversationPartsStream,
    handoff: _Handoff,
) -> None:
    """The reader thread: each conversation with the future of its parts, then _DONE."""
    try:
        for updated, record in records:
            if record is None:  # emitted before, unchanged: no parts to fetch
                if not handoff.put((updated, None, None)):
                    return
                continue
            future = pool.submit(parts.fetch, record["id"])
            if not handoff.put((updated, record, future)):
                future.cancel()
                return
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
        handoff.put((None, _FAILED, exc))
    else:
        handoff.put((None, _DONE, None))


def _parts_schema() -> dict:
    schema = copy.deepcopy(schemas.CONVERSATION_PART_OBJECT.to_dict())
    schema["properties"]["conversation_id"] = {"type": ["string"]}
    schema["properties"]["conversation_parts_total"] = {"type": ["integer", "null"]}
    schema["properties"]["conversation_parts_truncated"] = {"type": ["boolean", "null"]}
    schema.setdefault("required", []).append("conversation_id")
    return schema


class ConversationPartsStream(IntercomStream):
    """``GET /conversations/{id}``: every part Intercom returns for a changed conversation.

    Intercom returns at most the 500 most recent parts; a conversation with more is flagged
    (``conversation_parts_truncated``) and logged with its id.
    """

    name = "conversation_parts"
    parent_stream_type = ConversationsStream
    path = "/conversations/{conversation_id}"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    # One state entry for the stream, not one per conversation.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema = _parts_schema()

    def fetch(self, conversation_id: str) -> list[dict]:
        """All part records of one conversation (runs in the pool's threads)."""
        context = {"conversation_id": conversation_id}
        try:
            return list(self.request_records(context))
        except NotFoundError:
            self.logger.info(
                "conversation %s was deleted before its parts were read", conversation_id
            )
            return []

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Parts of the conversation, with its id, its part count and the truncation flag."""
        conversation = response_json(response)
        conversation_id = str(conversation.get("id"))
        listing = conversation.get("conversation_parts") or {}
        parts = listing.get("conversation_parts") or []
        # Both counts describe the whole conversation; take the larger so that a listing
        # count that only reflects the returned page cannot hide the truncation.
        counts = [
            value
            for value in (
                listing.get("total_count"),
                (conversation.get("statistics") or {}).get("count_conversation_parts"),
            )
            if isinstance(value, int)
        ]
        total = max(counts) if counts else None
        missing = total - len(parts) if total is not None else 0
        truncated = missing > 0
        if truncated:
            self.logger.warning(
                "Conversation %s has %d parts but Intercom returned only the %d most recent; "
                "the oldest %d are missing from conversation_parts "
                "(conversation_parts_truncated=true). Intercom's API cannot return them.",
                conversation_id,
                total,
                len(parts),
                missing,
            )
        plan = self.timestamp_plan
        for part in parts:
            part["conversation_id"] = conversation_id
            part["conversation_parts_total"] = total
            part["conversation_parts_truncated"] = truncated
            yield convert(part, plan)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        """The parts fetched ahead by the parent, or fetched now."""
        assert context is not None
        conversation_id = context["conversation_id"]
        parent = self._parent_stream
        future = parent.take_prefetched(conversation_id) if parent else None
        records = future.result() if future is not None else self.fetch(conversation_id)
        yield from records

    @property
    def _parent_stream(self) -> ConversationsStream | None:
        for stream in self._tap.streams.values():
            if isinstance(stream, ConversationsStream):
                return stream
        return None
