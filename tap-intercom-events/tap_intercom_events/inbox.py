"""The inbox: Intercom webhook notifications stored durably, read back in order by offset.

The receiver `add`s every verified notification (deduplicated on Intercom's notification id); the
tap's inbox mode `read_after` its bookmark. One code path, two stores selected by URL:

- `sqlite:///path/inbox.db` (the default): embedded, WAL mode, one writer at a time. Rows are
  numbered while the write lock is held, so numbering order is commit order and the offset is
  the row number.
- `postgresql://user@host:port/db`: for several receivers behind a load balancer. Concurrent
  transactions commit out of numbering order, so a reader that bookmarks the highest id it saw
  would skip a row numbered lower that commits later. Each row therefore records the id of the
  transaction that wrote it (`pg_current_xact_id()`), and a reader only returns rows whose
  transaction id is below its snapshot's `xmin`: every transaction below `xmin` has ended and
  every later one gets a higher id, so that part of the table can no longer change. The offset
  is `(transaction id, row id)`. The cost: a row becomes readable only once every transaction
  that started before its own has ended (any transaction with an id, in any database of the
  server: keep the inbox on a server without long-running writers).

One module (over 400 lines): the two stores behind one interface, whose offsets and ordering
rules must agree.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_URL = "sqlite:///.intercom-inbox/inbox.db"
PRUNE_CHUNK = 1000  # rows deleted per transaction by prune()


@dataclass(frozen=True)
class InboxItem:
    """One stored notification."""

    offset: str  # opaque, ordered only by the inbox
    notification_id: str  # Intercom's notification `id`
    topic: str
    received_at: float  # epoch seconds, when stored
    body: bytes  # the raw notification body as received

    def payload(self) -> dict[str, Any]:
        """The notification as JSON."""
        return json.loads(self.body)


class NewNotification(NamedTuple):
    """A notification to store (`add_many`)."""

    notification_id: str
    topic: str
    body: bytes
    received_at: float | None = None


def _first_of_each_id(notifications: Sequence[NewNotification]) -> list[bool]:
    """For each notification, whether it is the first in the sequence with its id."""
    seen: set[str] = set()
    first = []
    for n in notifications:
        first.append(n.notification_id not in seen)
        seen.add(n.notification_id)
    return first


class Inbox(Protocol):
    """A durable, deduplicating, ordered store of notifications."""

    url: str  # for messages: without any password

    def add(
        self, notification_id: str, topic: str, body: bytes, received_at: float | None = None
    ) -> bool:
        """Store a notification; False when one with this id is already stored.

        Committed (durable) when it returns. Safe to call from several threads.
        """
        ...

    def add_many(self, notifications: Sequence[NewNotification]) -> list[bool]:
        """Store several in one transaction (one commit, one disk sync); a bool each, as `add`.

        A notification id given twice is stored once (the first; the second gets False).
        """
        ...

    def read_after(
        self, offset: str | None, limit: int = 500
    ) -> tuple[list[InboxItem], str | None]:
        """Up to `limit` items after `offset` (None: from the start), in order.

        Returns them with the offset to resume from: the last item's, or the given one when
        there is none. Never skips an item that commits after the call.
        """
        ...

    def prune(self, received_before: float) -> int:
        """Delete the notifications stored before that time (epoch seconds); how many.

        Offsets stay valid: later rows keep theirs, and numbers are never reused.
        """
        ...

    def check(self) -> None:
        """Raise when the store does not answer (for health checks)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def open_inbox(url: str = DEFAULT_URL) -> Inbox:
    """The inbox at `url`.

    `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or
    `postgresql://user@host:port/db` (password from PGPASSWORD or ~/.pgpass rather than the URL).
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return SQLiteInbox(url)
    if scheme in ("postgresql", "postgres"):
        return PostgresInbox(url)
    raise ValueError(
        f"inbox URL {redact(url)!r} is neither sqlite:///PATH nor postgresql://USER@HOST/DB; "
        "give one of those"
    )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def _private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by its owner only.

    Notifications hold people's names and emails. SQLite gives its -wal and -shm files the same
    mode.
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


class SQLiteInbox:
    """The embedded inbox: one SQLite file in WAL mode."""

    def __init__(self, url: str) -> None:
        if not url.startswith("sqlite:///"):
            raise ValueError(f"SQLite inbox URL {url!r} must start with sqlite:/// (then the path)")
        self.url = url
        self.path = Path(unquote(url[len("sqlite:///") :]))
        if not self.path.name:
            raise ValueError(f"SQLite inbox URL {url!r} names no file")
        _private_file(self.path)
        self._lock = threading.Lock()
        # Transactions are explicit (BEGIN IMMEDIATE), so the module's implicit ones are off.
        self._db = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: each commit is on disk when add() returns, so an acknowledged notification
        # survives a power cut too (NORMAL would survive only a crash of the process).
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS inbox ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"  # never reused, even after deletes
            " notification_id TEXT NOT NULL UNIQUE,"
            " topic TEXT NOT NULL,"
            " received_at REAL NOT NULL,"
            " body BLOB NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS inbox_received_at ON inbox (received_at)")

    def add(
        self, notification_id: str, topic: str, body: bytes, received_at: float | None = None
    ) -> bool:
        """Store one notification; False when its id is already in the inbox."""
        return self.add_many([NewNotification(notification_id, topic, body, received_at)])[0]

    def add_many(self, notifications: Sequence[NewNotification]) -> list[bool]:
        """Store notifications in one transaction; per notification, whether it was new."""
        now = time.time()
        first = _first_of_each_id(notifications)
        added = []
        with self._lock:
            # IMMEDIATE takes the write lock first: the rows are numbered under it, so numbers
            # follow commit order even with several processes writing the file.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for n, is_first in zip(notifications, first, strict=True):
                    if not is_first:
                        added.append(False)
                        continue
                    cur = self._db.execute(
                        "INSERT INTO inbox (notification_id, topic, received_at, body)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING",
                        (
                            n.notification_id,
                            n.topic,
                            now if n.received_at is None else n.received_at,
                            bytes(n.body),
                        ),
                    )
                    added.append(cur.rowcount == 1)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return added

    def read_after(
        self, offset: str | None, limit: int = 500
    ) -> tuple[list[InboxItem], str | None]:
        """Up to ``limit`` items after ``offset`` in arrival order, and the offset after them."""
        _check_limit(limit)
        after = _parse_sqlite_offset(offset)
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, notification_id, topic, received_at, body FROM inbox"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        items = [InboxItem(str(r[0]), r[1], r[2], r[3], bytes(r[4])) for r in rows]
        return items, (items[-1].offset if items else offset)

    def prune(self, received_before: float) -> int:
        """Delete the notifications received before ``received_before``; answers how many."""
        deleted = 0
        while True:  # in small transactions: writers wait for the lock at most one chunk
            with self._lock:
                cur = self._db.execute(
                    "DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox"
                    " WHERE received_at < ? LIMIT ?)",
                    (received_before, PRUNE_CHUNK),
                )
            deleted += cur.rowcount
            if cur.rowcount < PRUNE_CHUNK:
                return deleted

    def check(self) -> None:
        """Raise when the database cannot answer (the receiver's health check)."""
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


def _parse_sqlite_offset(offset: str | None) -> int:
    if offset is None:
        return 0
    if not re.fullmatch(r"\d+", offset):
        raise ValueError(
            f"inbox offset {offset!r} is not an offset of a SQLite inbox (a row number); was the "
            "bookmark written with another inbox_url? Clear the state to read from the start"
        )
    return int(offset)


class PostgresInbox:
    """The shared inbox: one PostgreSQL table, written by any number of receivers."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise RuntimeError(
                "a postgresql:// inbox needs psycopg; install the package with its postgres "
                "extra: pip install 'tap-intercom-events[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self._dsn = "postgresql" + url[url.index(":") :]
        self.url = redact(url)
        self._lock = threading.Lock()
        self._conn: Any = None
        with self._lock:
            self._connection().execute(
                "CREATE TABLE IF NOT EXISTS intercom_inbox ("
                " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " xid xid8 NOT NULL DEFAULT pg_current_xact_id(),"
                " notification_id text NOT NULL UNIQUE,"
                " topic text NOT NULL,"
                " received_at double precision NOT NULL,"
                " body bytea NOT NULL)"
            )
            self._connection().execute(
                "CREATE INDEX IF NOT EXISTS intercom_inbox_xid_id ON intercom_inbox (xid, id)"
            )
            self._connection().execute(
                "CREATE INDEX IF NOT EXISTS intercom_inbox_received_at"
                " ON intercom_inbox (received_at)"
            )

    def _connection(self) -> Any:
        # Reconnect after a lost connection: the failed call raised, the next one retries.
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
            except self._psycopg.OperationalError as exc:
                raise ConnectionError(
                    f"cannot connect to the inbox database {self.url}: {exc}".strip()
                ) from exc
        return self._conn

    def add(
        self, notification_id: str, topic: str, body: bytes, received_at: float | None = None
    ) -> bool:
        """Store one notification; False when its id is already in the inbox."""
        return self.add_many([NewNotification(notification_id, topic, body, received_at)])[0]

    def add_many(self, notifications: Sequence[NewNotification]) -> list[bool]:
        """Store notifications in one transaction; per notification, whether it was new."""
        now = time.time()
        first = _first_of_each_id(notifications)
        rows = [
            (
                n.notification_id,
                n.topic,
                now if n.received_at is None else n.received_at,
                bytes(n.body),
            )
            for n, is_first in zip(notifications, first, strict=True)
            if is_first
        ]
        if not rows:
            return []
        # Receivers sharing the table insert overlapping ids; inserting in one global order
        # (by id) means two batches never wait on each other in a cycle (no deadlocks).
        rows.sort(key=lambda row: row[0])
        values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        with self._lock:
            # One statement in autocommit: its own transaction, committed when execute returns.
            # A concurrent insert of the same id waits for the other to commit, then does nothing.
            cur = self._connection().execute(
                "INSERT INTO intercom_inbox (notification_id, topic, received_at, body)"
                f" VALUES {values} ON CONFLICT (notification_id) DO NOTHING"
                " RETURNING notification_id",
                [v for row in rows for v in row],
            )
            inserted = {r[0] for r in cur.fetchall()}
        return [
            is_first and n.notification_id in inserted
            for n, is_first in zip(notifications, first, strict=True)
        ]

    def read_after(
        self, offset: str | None, limit: int = 500
    ) -> tuple[list[InboxItem], str | None]:
        """Up to ``limit`` items after ``offset`` in arrival order, and the offset after them."""
        _check_limit(limit)
        xid, row_id = _parse_postgres_offset(offset)
        with self._lock:
            # pg_current_snapshot() is the snapshot of this very statement: the rows it returns
            # below xmin are all there will ever be below xmin. (The text column gets another
            # name: ORDER BY xid would otherwise sort by the text.)
            rows = (
                self._connection()
                .execute(
                    "SELECT xid::text AS xid_text, id, notification_id, topic, received_at, body"
                    " FROM intercom_inbox"
                    " WHERE (xid, id) > (%s::text::xid8, %s)"
                    " AND xid < pg_snapshot_xmin(pg_current_snapshot())"
                    " ORDER BY xid, id LIMIT %s",
                    (str(xid), row_id, limit),
                )
                .fetchall()
            )
        items = [InboxItem(f"{r[0]}:{r[1]}", r[2], r[3], r[4], bytes(r[5])) for r in rows]
        return items, (items[-1].offset if items else offset)

    def prune(self, received_before: float) -> int:
        """Delete the notifications received before ``received_before``; answers how many."""
        deleted = 0
        while True:
            with self._lock:
                cur = self._connection().execute(
                    "DELETE FROM intercom_inbox WHERE id IN (SELECT id FROM intercom_inbox"
                    " WHERE received_at < %s LIMIT %s)",
                    (received_before, PRUNE_CHUNK),
                )
            deleted += cur.rowcount
            if cur.rowcount < PRUNE_CHUNK:
                return deleted

    def check(self) -> None:
        """Raise when the database cannot answer (the receiver's health check)."""
        with self._lock:
            self._connection().execute("SELECT 1").fetchone()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()


def _parse_postgres_offset(offset: str | None) -> tuple[int, int]:
    if offset is None:
        return 0, 0
    match = re.fullmatch(r"(\d+):(\d+)", offset)
    if not match:
        raise ValueError(
            f"inbox offset {offset!r} is not an offset of a PostgreSQL inbox (XID:ID); was the "
            "bookmark written with another inbox_url? Clear the state to read from the start"
        )
    return int(match[1]), int(match[2])
