"""Records that could not be written yet, kept in the Singer state until they can be.

A record waits when the cause can go away (its parent is not in Salesforce yet, the org lacks a
field or picklist value, a row lock, a failed Bulk job, ...). Waiting records travel in the state
the target emits, under its own top-level key, so a deployment that keeps only Meltano's state
backend (a fresh container per run) loses none of them. Each later run retries them without the
tap reading them again, until they are written, rejected, or expire.

The records go into the state as one compressed string per org, so that Meltano's merging of
partial states replaces the whole list rather than mixing two lists.
"""

from __future__ import annotations

import base64
import datetime
import json
import typing as t
import zlib
from dataclasses import asdict, dataclass, field, fields

STATE_KEY = "target-salesforce-leads"
# Meltano reads each message as one line with a bounded buffer (10 MiB by default): stay well below.
MAX_BLOB_BYTES = 6_000_000

# Error codes whose cause can go away: such records wait instead of being rejected.
WAITING_CODES = frozenset(
    {
        "INVALID_CROSS_REFERENCE_KEY",  # the parent (e.g. a Task's person) is not in Salesforce yet
        "INVALID_FIELD",  # the org lacks a field
        "INVALID_FIELD_FOR_INSERT_UPDATE",  # a field is not writable for the integration user
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",  # the org lacks a picklist value
        "INVALID_TYPE",  # the org lacks the sObject (or access to it)
        "UNABLE_TO_LOCK_ROW",
        "BULK_JOB_FAILED",
        "UNKNOWN_OUTCOME",
        "UNKNOWN_EXCEPTION",
        "SERVER_UNAVAILABLE",
        "REQUEST_LIMIT_EXCEEDED",
        "BUDGET_EXHAUSTED",
    }
)
# Of those, the ones a Salesforce admin must fix: the run exits non-zero while they happen.
CONFIGURATION_CODES = frozenset(
    {
        "INVALID_FIELD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_TYPE",
    }
)


def now_iso() -> str:
    """Now, in UTC, as an ISO 8601 string to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Entry:
    """One waiting record: the record as the target received it, and why it waits."""

    stream: str
    key: str  # the external id, lower-cased (the sink's spool key)
    external_id: str
    sobject: str
    code: str
    message: str
    record: dict[str, t.Any]
    first_seen: str = field(default_factory=now_iso)
    attempts: int = 1
    last_run: str = ""

    def age_days(self, now: datetime.datetime | None = None) -> float:
        """Days since the record first waited."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        try:
            first = datetime.datetime.fromisoformat(self.first_seen)
        except ValueError:
            return 0.0
        return (now - first).total_seconds() / 86400


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))


@dataclass
class StreamInfo:
    """What a sink for a stream needs, so waiting records can be retried before it is sent."""

    schema: dict[str, t.Any]
    key_properties: list[str]


class WaitingList:
    """The waiting records of one org: loaded from the state, updated as records are processed."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self.streams: dict[str, StreamInfo] = {}

    def __len__(self) -> int:
        return len(self.entries)

    # -- state encoding ---------------------------------------------------------------------

    @classmethod
    def decode(cls, blob: str | None) -> WaitingList:
        """The list a state's ``waiting`` string holds (empty for none)."""
        wl = cls()
        if not blob:
            return wl
        doc = json.loads(zlib.decompress(base64.b64decode(blob)))
        for name, info in (doc.get("streams") or {}).items():
            wl.streams[name] = StreamInfo(info["schema"], list(info.get("key_properties") or []))
        for raw in doc.get("entries") or []:
            entry = Entry(**raw)
            wl.entries[(entry.stream, entry.key)] = entry
        return wl

    def encode(self) -> str:
        """The list as one compressed string for the state."""
        used = {e.stream for e in self.entries.values()}
        doc = {
            "streams": {n: asdict(s) for n, s in self.streams.items() if n in used},
            # The fields as they are (no deep copy of each record, as asdict makes: the
            # encoder only reads them).
            "entries": [{n: getattr(e, n) for n in _ENTRY_FIELDS} for e in self.entries.values()],
        }
        return base64.b64encode(
            zlib.compress(
                json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode(), 6
            )
        ).decode()

    # -- updates ----------------------------------------------------------------------------

    def wait(self, entry: Entry, stream_info: StreamInfo) -> Entry:
        """Record that ``entry`` waits (again): the first sighting and attempts carry over."""
        old = self.entries.get((entry.stream, entry.key))
        if old is not None:
            entry.first_seen = old.first_seen
            entry.attempts = old.attempts + 1
        self.entries[(entry.stream, entry.key)] = entry
        self.streams[entry.stream] = stream_info
        return entry

    def settle(self, stream: str, key: str) -> Entry | None:
        """The record was written or rejected: it waits no more."""
        return self.entries.pop((stream, key), None)

    def expired(self, max_days: float) -> list[Entry]:
        """Remove and return the entries that waited longer than ``max_days``."""
        now = datetime.datetime.now(datetime.timezone.utc)
        old = [e for e in self.entries.values() if e.age_days(now) > max_days]
        for e in old:
            del self.entries[(e.stream, e.key)]
        return old

    def over_capacity(self, max_records: int) -> list[Entry]:
        """Remove and return the oldest entries beyond ``max_records``."""
        if len(self.entries) <= max_records:
            return []
        ordered = sorted(self.entries.values(), key=lambda e: e.first_seen)
        drop = ordered[: len(self.entries) - max_records]
        for e in drop:
            del self.entries[(e.stream, e.key)]
        return drop

    def by_stream(self) -> dict[str, list[Entry]]:
        """The waiting records by stream."""
        out: dict[str, list[Entry]] = {}
        for e in self.entries.values():
            out.setdefault(e.stream, []).append(e)
        return out

    def reasons(self) -> dict[str, int]:
        """How many records wait, by reason code."""
        counts: dict[str, int] = {}
        for e in self.entries.values():
            counts[e.code] = counts.get(e.code, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
