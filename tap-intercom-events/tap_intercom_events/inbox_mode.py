"""Inbox mode: emit the contacts and conversations that webhook notifications name.

The receiver stores Intercom's notifications in the inbox; this reads them after the offset in
the tap's state, in batches. A batch is coalesced by item (many notifications about one contact
or conversation: one re-read), each item is re-read by id through the streams (payloads are
partial), and once its records are written the STATE carries the batch's last offset. A tap
stopped at any moment resumes after the last offset a STATE carried: at least once, nothing
lost. With ``follow`` the tap keeps polling; without it, it exits once the inbox is drained.
"""

from __future__ import annotations

import json
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping

    from singer_sdk.helpers.types import TapState
    from singer_sdk.streams import Stream

    from tap_intercom_events.inbox import Inbox, InboxItem
    from tap_intercom_events.streams.by_id import ReadById


class _StateWriter(t.Protocol):
    def write_state(self, state: TapState) -> None: ...


class InboxTap(t.Protocol):
    """What inbox mode uses of the tap (``tap.py`` imports this module, not the other way)."""

    defer_state: bool

    @property
    def config(self) -> Mapping[str, t.Any]:
        """The tap's settings."""

    @property
    def state(self) -> TapState:
        """The tap's state, the inbox offset under :data:`STATE_KEY`."""

    @property
    def state_writer(self) -> _StateWriter:
        """Writes the STATE message."""

    @property
    def streams(self) -> dict[str, Stream]:
        """The tap's streams by name."""

    @property
    def logger(self) -> logging.Logger:
        """The tap's logger."""


#: The tap's state key holding the inbox offset: ``{"inbox": {"offset": "..."}}``.
STATE_KEY = "inbox"

#: Full-table streams read before the first batch and again before a batch once
#: :data:`WORKSPACE_REFRESH_SECONDS` have passed: what a sync emits before contacts and
#: conversations (the mapper names teammates in transcripts from ``admins``).
WORKSPACE_STREAMS = ("admins", "teams", "tags")
WORKSPACE_REFRESH_SECONDS = 900.0

#: Topics naming an item that no longer exists: they carry only its ids, and the batch path
#: emits nothing for such an item (search no longer finds it).
GONE_TOPICS = {
    "contact.deleted": "contact deleted",
    "contact.archived": "contact archived",
    "conversation.deleted": "conversation deleted",
}


@dataclass
class Batch:
    """What one batch of notifications asks for: ids to re-read, and what was skipped."""

    notifications: int = 0
    #: Ids in the order they were first named (dicts as ordered sets).
    contacts: dict[str, None] = field(default_factory=dict)
    conversations: dict[str, None] = field(default_factory=dict)
    #: Notifications not leading to a re-read, by reason.
    skipped: Counter[str] = field(default_factory=Counter)


def target_of(topic: str, payload: t.Any) -> tuple[str, str] | str:
    """``(stream, id)`` of the item a notification is about, or why it leads to no re-read.

    ``contact.*`` topics name a contact (``contact.*.tag.*`` through their ``contact_tag``
    item), ``conversation.*`` and ``conversation_part.*`` a conversation (tagging a
    conversation fires ``conversation_part.tag.created``).
    """
    if topic == "ping":
        return "ping"
    if topic in GONE_TOPICS:
        return GONE_TOPICS[topic]
    family = topic.split(".", 1)[0]
    if family == "contact":
        stream = "contacts"
    elif family in ("conversation", "conversation_part"):
        stream = "conversations"
    elif family == "company":
        return "company topic (companies are read by the batch job)"
    else:
        return "unknown topic"
    data = payload.get("data") if isinstance(payload, dict) else None
    item = data.get("item") if isinstance(data, dict) else None
    if not isinstance(item, dict):
        return "no item in the notification"
    item_id = _item_id(stream, item)
    if item_id is None:
        return "no item id in the notification"
    return stream, item_id


def _item_id(stream: str, item: dict) -> str | None:
    kind = "contact" if stream == "contacts" else "conversation"
    if item.get("type") != kind:
        # e.g. a contact_tag {"contact": {...}, "tag": {...}}, or a part naming its conversation
        nested = item.get(kind)
        if isinstance(nested, dict):
            item = nested
        elif item.get(f"{kind}_id") is not None:
            return str(item[f"{kind}_id"])
        else:
            return None
    item_id = item.get("id")
    return None if item_id in (None, "") else str(item_id)


def plan_batch(items: Iterable[InboxItem]) -> Batch:
    """Coalesce notifications by item."""
    batch = Batch()
    for item in items:
        batch.notifications += 1
        try:
            payload = item.payload()
        except ValueError:
            batch.skipped["body is not JSON"] += 1
            continue
        found = target_of(item.topic, payload)
        if isinstance(found, str):
            batch.skipped[found] += 1
            continue
        stream, item_id = found
        getattr(batch, stream)[item_id] = None
    return batch


@dataclass
class Totals:
    """Counts over the run, logged as one JSON object at its end."""

    notifications: int = 0
    batches: int = 0
    reread: Counter[str] = field(default_factory=Counter)
    not_found: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, t.Any]:
        """The counts as the JSON of the batch line."""
        return {
            "notifications": self.notifications,
            "batches": self.batches,
            "reread": dict(self.reread),
            "not_found": dict(self.not_found),
            "skipped": dict(self.skipped),
        }


class InboxReader:
    """The inbox mode of one tap run."""

    def __init__(self, tap: InboxTap) -> None:
        self.tap = tap
        config = tap.config
        self.url = str(config["inbox_url"])
        self.follow = bool(config.get("follow"))
        self.poll = float(config.get("poll_interval_seconds") or 1.0)
        self.batch_size = int(config.get("inbox_batch_size") or 500)
        self.coalesce = float(config.get("coalesce_seconds") or 0.0)
        self.totals = Totals()

    def offset(self) -> str | None:
        """The offset of the last notification whose items were emitted (None: none yet)."""
        section = self.tap.state.get(STATE_KEY)
        offset = section.get("offset") if isinstance(section, dict) else None
        return None if offset is None else str(offset)

    def run(self) -> None:
        """Read batches until the inbox is drained (or, with ``follow``, until stopped)."""
        from tap_intercom_events.inbox import open_inbox  # noqa: PLC0415 - inbox mode only

        inbox = open_inbox(self.url)
        log = self.tap.logger
        log.info(
            "Inbox mode: reading %s after offset %s, %s",
            inbox.url,
            self.offset(),
            f"following (polling every {self.poll:g} s)" if self.follow else "until it is drained",
        )
        refreshed: float | None = None
        try:
            while True:
                items, after = self._read(inbox)
                if not items:
                    if not self.follow:
                        break
                    time.sleep(self.poll)
                    continue
                if refreshed is None or time.monotonic() - refreshed > WORKSPACE_REFRESH_SECONDS:
                    self._sync_workspace()
                    refreshed = time.monotonic()
                self.emit(items, after)
        finally:
            inbox.close()
            log.info("Inbox mode totals: %s", json.dumps(self.totals.as_dict(), sort_keys=True))

    def _sync_workspace(self) -> None:
        """Sync the selected :data:`WORKSPACE_STREAMS` (a few calls), as a sync starts."""
        tap = self.tap
        tap.defer_state = True
        try:
            for name in WORKSPACE_STREAMS:
                stream = tap.streams.get(name)
                if stream is not None and stream.selected:
                    stream.sync()
                    stream.finalize_state_progress_markers()
        finally:
            tap.defer_state = False

    def _read(self, inbox: Inbox) -> tuple[list[InboxItem], str | None]:
        """The next batch.

        When following, a short batch waits up to ``coalesce_seconds`` after its first
        notification arrived for more about the same items.
        """
        items, after = self._read_after(inbox, self.offset(), self.batch_size)
        if not (self.follow and self.coalesce > 0 and 0 < len(items) < self.batch_size):
            return items, after
        wait = items[0].received_at + self.coalesce - time.time()
        if wait > 0:
            time.sleep(min(wait, self.coalesce))
            more, later = self._read_after(inbox, after, self.batch_size - len(items))
            if more:
                items, after = items + more, later
        return items, after

    def _read_after(
        self, inbox: Inbox, offset: str | None, limit: int
    ) -> tuple[list[InboxItem], str | None]:
        """``inbox.read_after``, retried while the database is unreachable or busy.

        Retried for up to ``max_retry_seconds``. An offset the inbox cannot read (ValueError) is
        not retried.
        """
        max_time = float(self.tap.config.get("max_retry_seconds") or 300)
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return inbox.read_after(offset, limit)
            except ValueError:
                raise
            except Exception as exc:  # noqa: BLE001 - any driver's error; bounded, then raised
                spent = time.monotonic() - started
                if spent >= max_time:
                    msg = (
                        f"Could not read the inbox {inbox.url} for {spent:.0f} s (last error: "
                        f"{type(exc).__name__}: {exc}). The inbox database is unreachable or "
                        "locked. Check that it is up and that inbox_url is right; the tap "
                        "resumes from its last state when started again."
                    )
                    raise RuntimeError(msg) from exc
                attempt += 1
                wait = min(30.0, 0.25 * 2**attempt, max_time - spent)
                self.tap.logger.warning(
                    "Reading the inbox failed (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    wait,
                )
                time.sleep(wait)

    def emit(self, items: list[InboxItem], after: str | None) -> None:
        """Re-read and emit the items of one batch, then the STATE with its last offset."""
        tap = self.tap
        batch = plan_batch(items)
        totals = self.totals
        totals.batches += 1
        totals.notifications += batch.notifications
        tap.defer_state = True
        try:
            self._reread(batch)
        finally:
            tap.defer_state = False
        totals.skipped.update(batch.skipped)
        # The SDK's TapState names only "bookmarks"; the tap keeps its own top-level sections.
        tap.state[STATE_KEY] = {"offset": after}  # type: ignore[literal-required]
        # Written (and stdout flushed) after the batch's records: the offset is vouched for.
        tap.state_writer.write_state(tap.state)
        tap.logger.info(
            "Inbox batch to offset %s: %d notifications (the oldest stored %.1f s before its "
            "STATE), %d contacts and %d conversations re-read%s",
            after,
            batch.notifications,
            time.time() - min(item.received_at for item in items),
            len(batch.contacts),
            len(batch.conversations),
            "; skipped: " + ", ".join(f"{why} {n}" for why, n in batch.skipped.items())
            if batch.skipped
            else "",
        )

    def _reread(self, batch: Batch) -> None:
        """Emit the batch's items through their streams (records, then children)."""
        tap = self.tap
        totals = self.totals
        streams = tap.streams
        for name in ("contacts", "conversations"):
            ids = list(getattr(batch, name))
            if not ids:
                continue
            stream = t.cast("ReadById", streams[name])
            if not (stream.selected or stream.has_selected_descendents):
                batch.skipped[f"{name} not selected"] += len(ids)
                continue
            stream.read_ids, stream.not_found = ids, []
            try:
                stream.sync()
                stream.finalize_state_progress_markers()
            finally:
                stream.read_ids = None
            totals.reread[name] += len(ids)
            if stream.not_found:
                totals.not_found[name] += len(stream.not_found)
                tap.logger.info(
                    "%s: %d of the batch no longer exist (404: deleted or merged since the "
                    "notification): %s",
                    name,
                    len(stream.not_found),
                    ", ".join(stream.not_found[:20]),
                )
