"""SQLite storage of the emulated workspace: schema, connections, settings and the clock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

DB_NAME = "intercom.sqlite3"

# Each object is kept as its serialized public JSON (``data``) plus the columns that list,
# search and sort need, so a page is served by joining stored strings without re-encoding.
TABLES = """
CREATE TABLE IF NOT EXISTS contacts (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    role TEXT,
    email TEXT,
    external_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    indexed_at INTEGER NOT NULL DEFAULT 0,
    merged_into TEXT,
    archived INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_tags (
    contact_id TEXT NOT NULL, tag_id TEXT NOT NULL, applied_at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, tag_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contact_companies (
    contact_id TEXT NOT NULL, company_id TEXT NOT NULL, pos INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_id, company_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS companies (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    company_id TEXT NOT NULL UNIQUE,
    name TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    conversation_id TEXT NOT NULL, pos INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (conversation_id, pos)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER);
CREATE TABLE IF NOT EXISTS admins (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS event_summaries (
    contact_id TEXT NOT NULL, name TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (contact_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, contact_id TEXT NOT NULL, event_name TEXT NOT NULL,
    created_at INTEGER NOT NULL, metadata TEXT
);
CREATE TABLE IF NOT EXISTS data_attributes (
    id INTEGER PRIMARY KEY, model TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (model, name)
);
CREATE TABLE IF NOT EXISTS segments (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, rule TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activity_logs (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    notif_id TEXT NOT NULL,
    subscription TEXT NOT NULL,
    topic TEXT NOT NULL,
    item TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    first_sent_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    delivered_at REAL,
    duplicates INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    hold_for INTEGER
);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    seq INTEGER PRIMARY KEY,
    outbox_seq INTEGER NOT NULL,
    notif_id TEXT NOT NULL,
    subscription TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    sent_at REAL NOT NULL,
    clock INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT
);
"""

INDEXES = """
CREATE INDEX IF NOT EXISTS contacts_updated ON contacts (updated_at, id);
CREATE INDEX IF NOT EXISTS contacts_created ON contacts (created_at, id);
CREATE INDEX IF NOT EXISTS contacts_email ON contacts (email COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS contacts_external ON contacts (external_id);
CREATE INDEX IF NOT EXISTS contact_tags_tag ON contact_tags (tag_id);
CREATE INDEX IF NOT EXISTS contact_companies_company ON contact_companies (company_id);
CREATE INDEX IF NOT EXISTS companies_name ON companies (name);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated_at, id);
CREATE INDEX IF NOT EXISTS conversations_created ON conversations (created_at, id);
CREATE INDEX IF NOT EXISTS events_contact ON events (contact_id, event_name);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, next_attempt);
CREATE INDEX IF NOT EXISTS webhook_attempts_sub ON webhook_attempts (subscription, seq);
CREATE INDEX IF NOT EXISTS activity_logs_created ON activity_logs (created_at, id);
"""

# Outbox columns added after the first release: data dirs made before get them on open.
OUTBOX_ADDED = {
    "delivered_at": "REAL",
    "duplicates": "INTEGER NOT NULL DEFAULT 0",
    "held": "INTEGER NOT NULL DEFAULT 0",
    "hold_for": "INTEGER",
}


def _add_missing_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, decl in columns.items():
        if name not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


# Tables a seed replaces; meta (settings, tokens, subscriptions, clock) and outbox survive.
DATA_TABLES = (
    "contacts",
    "contact_tags",
    "contact_companies",
    "companies",
    "conversations",
    "parts",
    "tags",
    "admins",
    "teams",
    "event_summaries",
    "events",
    "data_attributes",
    "segments",
    "activity_logs",
)

DEFAULT_SETTINGS: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "rate_limit_per_minute": 10000,
    "search_delay_seconds": 0,
    "webhook_timeout_seconds": 5.0,
    "webhook_retry_base_seconds": 1.0,
    "webhook_max_attempts": 6,
    # Intercom's published delivery rules (see emulators/docs/intercom.md, "Webhooks").
    "webhook_slow_ms": 500,
    "webhook_concurrency": 10,
    "webhook_pause_failures": 1000,
    "webhook_pause_window_seconds": 900,
    "webhook_pause_seconds": 900,
    "webhook_suspend_seconds": 7 * 86400,
    "webhook_throttle_seconds": 60,
    "webhook_throttle_max_seconds": 7200,
    "webhook_throttle_keep": 1000,
    # Injected at-least-once effects, off by default; decided per notification from the seed.
    "webhook_duplicate_rate": 0.0,
    "webhook_reorder_rate": 0.0,
    "webhook_reorder_depth": 3,
    "webhook_duplicate_delay_seconds": 1.0,
    "webhook_reorder_delay_seconds": 5.0,
    "webhook_chaos_seed": 0,
    "app_id_code": "emulatorapp0000000000000000000000000000000000",
    "app_name": "Emulated Workspace",
}


class Database:
    """One SQLite file in the data dir, with one connection per thread."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_NAME
        self._local = threading.local()
        self.write_lock = threading.RLock()
        conn = self.conn()
        conn.executescript(TABLES)
        _add_missing_columns(conn, "outbox", OUTBOX_ADDED)
        conn.executescript(INDEXES)

    def conn(self) -> sqlite3.Connection:
        """Return this thread's connection (autocommit; transactions are explicit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA mmap_size=2147483648")
            self._local.conn = conn
        return conn

    def write(self) -> _WriteTx:
        """A write transaction (``BEGIN IMMEDIATE``), serialized within this process too."""
        return _WriteTx(self)

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A JSON value kept under ``key`` (``default`` when absent)."""
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any, conn: sqlite3.Connection | None = None) -> None:
        """Keep a JSON value under ``key`` (in ``conn``'s transaction if given)."""
        (conn or self.conn()).execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def settings(self) -> dict[str, Any]:
        """The workspace settings, defaults filled in."""
        return {**DEFAULT_SETTINGS, **self.get_meta("settings", {})}

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the settings named in ``changes`` (None keeps one); answer all."""
        current = self.get_meta("settings", {})
        current.update({k: v for k, v in changes.items() if v is not None})
        self.set_meta("settings", current)
        return {**DEFAULT_SETTINGS, **current}

    @property
    def snapshot_path(self) -> Path:
        """Where ``snapshot`` keeps the state ``restore`` goes back to."""
        return self.path.with_name(self.path.name + ".seeded")

    def snapshot(self) -> None:
        """Keep a copy of the whole workspace, for ``POST /_emulator/reset``."""
        with self.write_lock:
            target = sqlite3.connect(self.snapshot_path)
            try:
                self.conn().backup(target)
            finally:
                target.close()

    def restore(self) -> None:
        """Put the whole workspace back as it was at the last ``snapshot``."""
        with self.write_lock:
            source = sqlite3.connect(self.snapshot_path)
            try:
                source.backup(self.conn())
            finally:
                source.close()

    # The clock is kept in meta so a `simulate` process and a server share it.
    def clock_state(self) -> dict[str, Any]:
        """The clock as kept: ``{"real": true}`` or a frozen ``now``."""
        return self.get_meta("clock", {"real": True})

    def now(self) -> int:
        """The emulator's notion of now, in unix seconds."""
        state = self.clock_state()
        if state.get("real", True):
            return int(time.time())
        return int(state["now"])

    def set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        """Freeze the clock at ``now``, move it by ``advance`` or go back to ``real``."""
        if body.get("real"):
            state: dict[str, Any] = {"real": True}
        elif "now" in body:
            state = {"real": False, "now": int(body["now"])}
        elif "advance" in body:
            state = {"real": False, "now": self.now() + int(body["advance"])}
        else:
            raise ValueError("give one of 'now' (epoch seconds), 'advance' (seconds) or 'real'")
        self.set_meta("clock", state)
        return {"now": self.now(), "real": state["real"]}

    def next_counter(self, name: str, conn: sqlite3.Connection, start: int = 1) -> int:
        """Increment and return a persistent counter (call inside a write transaction)."""
        value = int(self.get_meta(f"counter:{name}", start - 1)) + 1
        self.set_meta(f"counter:{name}", value, conn)
        return value


class _WriteTx:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.write_lock.acquire()
        conn = self.db.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.db.write_lock.release()
            raise
        return conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        conn = self.db.conn()
        try:
            conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.db.write_lock.release()
