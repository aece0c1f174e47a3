"""What an incremental stream remembers between syncs.

The records of its lookback window it has already emitted (with their children), and at which
``updated_at``.

Every sync reads the records updated at or after the bookmark again (the lookback window, see
the README). A record that comes back with the ``updated_at`` it had when it was emitted has not
changed since: it is not emitted again, nor are its children (conversation parts, event
summaries), which cost one API call each.

The memory lives in the stream's state, ``bookmarks.<stream>.emitted.<signature>``, as
``{record id: updated_at (unix seconds)}``. The signature names what was emitted with the
record (the stream itself, its child streams, a digest of the stream maps): when it changes
(e.g. event summaries switched on), the old memory does not apply and every record is emitted
as before. Keeping the memory under its signature also keeps it right when Meltano deep-merges
the state of an interrupted run onto the previous one: the union of two true claims is true.

The rules that keep it from ever skipping a change:

- an entry is written only after the record and its children were written, so any STATE
  message that carries it comes after them;
- an entry is written only when its ``updated_at`` second had certainly ended before the record
  was read (``settled_before``, see :func:`settled_before`); otherwise a second change within
  that same second would keep the same ``updated_at`` and be skipped. Such a record is simply
  not remembered and is emitted again by the next sync;
- a record whose ``updated_at`` differs from the remembered one in any direction is emitted;
- entries older than the bookmark are dropped (the next sync filters those records out anyway);
  beyond ``limit`` entries, the oldest are dropped (the newest ``limit`` are kept). A forgotten
  record is emitted again: the memory only ever causes a record to be skipped when it holds
  that exact id and timestamp.
"""

from __future__ import annotations

import email.utils
import hashlib
import heapq
import json
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Key of the memory in a stream's state.
MEMORY_KEY = "emitted"
#: Records remembered per stream by default (about 40 bytes of state each).
DEFAULT_LIMIT = 10_000
#: Seconds by which Intercom's ``Date`` header may run ahead of its ``updated_at`` stamps.
CLOCK_SLACK = 1


def signature(names: Iterable[str], maps: Mapping[str, t.Any] | None = None) -> str:
    """Name of what is emitted with a record: streams joined by ``+``, and a digest of maps."""
    text = "+".join(names) or "nothing"
    if maps:
        digest = hashlib.sha1(  # noqa: S324 - a fingerprint, not a secret
            json.dumps(maps, sort_keys=True, default=str).encode()
        ).hexdigest()[:10]
        text += f"#maps={digest}"
    return text


def settled_before(newest: int | None, date_header: str | None) -> int | None:
    """``updated_at`` values below this had certainly ended when the sync started reading.

    ``newest`` is the newest ``updated_at`` in the index when the sync started: its second had
    begun before any read, so every earlier second had ended. Intercom's ``Date`` header (its
    clock when it answered the ceiling probe, before any read) moves the limit up to the present,
    less :data:`CLOCK_SLACK`. None when neither is known: nothing is remembered.
    """
    limits = [newest] if newest is not None else []
    if date_header:
        try:
            parsed = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            limits.append(int(parsed.timestamp()) - CLOCK_SLACK)
    return max(limits) if limits else None


class EmittedMemory:
    """Ids and ``updated_at`` of records emitted (with their children).

    :meth:`unchanged` may be called from a reader thread while the stream's own thread calls
    :meth:`remember` and :meth:`forget_before`; entries are only ever replaced by newer claims
    or removed, and a missing entry only means the record is emitted. A heap of
    ``(updated_at, id)`` finds the oldest entry (stale heap items are skipped lazily).
    """

    def __init__(self, sig: str, limit: int, entries: Iterable[tuple[str, int]] = ()) -> None:
        self.signature = sig
        self.limit = max(0, int(limit))
        self.settled_before: int | None = None
        #: Entries dropped because the memory was full (their records will be emitted again).
        self.evicted = 0
        self.skipped = 0
        ordered = sorted(entries, key=lambda kv: (kv[1], kv[0]))
        if len(ordered) > self.limit:
            self.evicted += len(ordered) - self.limit
            ordered = ordered[len(ordered) - self.limit :]
        self.entries: dict[str, int] = dict(ordered)
        self._heap = [(value, key) for key, value in ordered]  # sorted, hence a heap

    @classmethod
    def from_state(
        cls, stream_state: Mapping[str, t.Any], sig: str, limit: int, floor: int
    ) -> EmittedMemory:
        """The memory kept for ``sig`` in a stream's state.

        Without entries older than ``floor`` (records the sync will not read). Anything
        malformed is ignored.
        """
        section = stream_state.get(MEMORY_KEY)
        raw = section.get(sig) if isinstance(section, dict) else None
        entries: list[tuple[str, int]] = []
        if isinstance(raw, dict) and limit > 0:
            for key, value in raw.items():
                if value.__class__ is int and value >= floor:
                    entries.append((str(key), value))
        return cls(sig, limit, entries)

    def attach(self, stream_state: dict[str, t.Any]) -> None:
        """Put the memory into the stream's state, replacing other signatures' memories.

        The state holds the live mapping, so every STATE message carries the entries written
        so far (each of them after its record).
        """
        if self.limit:
            stream_state[MEMORY_KEY] = {self.signature: self.entries}
        else:
            stream_state.pop(MEMORY_KEY, None)

    def unchanged(self, record_id: t.Any, updated: t.Any) -> bool:
        """Whether this record was emitted with exactly this ``updated_at``."""
        entries = self.entries
        if not entries or updated.__class__ is not int:
            return False
        if entries.get(str(record_id)) == updated:
            self.skipped += 1
            return True
        return False

    def remember(self, record_id: t.Any, updated: t.Any) -> None:
        """Note a record (and its children) written at ``updated``."""
        if not self.limit:
            return
        key = str(record_id)
        entries = self.entries
        limit = self.settled_before
        if updated.__class__ is not int or limit is None or updated >= limit:
            # Its second may not have ended: a change later in it would look the same.
            entries.pop(key, None)
            return
        entries[key] = updated
        heapq.heappush(self._heap, (updated, key))
        while len(entries) > self.limit and self._drop_oldest():
            self.evicted += 1

    def _drop_oldest(self) -> bool:
        heap, entries = self._heap, self.entries
        while heap:
            value, key = heapq.heappop(heap)
            if entries.get(key) == value:
                del entries[key]
                return True
        return False

    def forget_before(self, bookmark: int) -> None:
        """Drop the entries older than the bookmark (the next sync filters them out)."""
        heap, entries = self._heap, self.entries
        while heap and heap[0][0] < bookmark:
            value, key = heapq.heappop(heap)
            if entries.get(key) == value:
                del entries[key]

    def compact(self, bookmark: int) -> None:
        """Drop every entry older than the bookmark; order the rest by ``updated_at``."""
        self.forget_before(bookmark)
        kept = sorted(self.entries.items(), key=lambda kv: (kv[1], kv[0]))
        self.entries.clear()
        self.entries.update(kept)
        self._heap = [(value, key) for key, value in kept]
