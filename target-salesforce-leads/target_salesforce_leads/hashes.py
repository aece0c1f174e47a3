"""Content hashes of the last confirmed write per record, kept in SQLite.

A re-sent record whose content hash matches costs no API call. Hashes are recorded only after
Salesforce confirmed the write, so a failed or waiting record is always sent again.

Every hash belongs to one org and one *generation*: a random id the target keeps in the Singer
state next to the bookmarks. A state without it (a first run, ``meltano state clear``, ``meltano
run --full-refresh``, another environment, another org) starts a new generation, so no hash
written for another org or another state can ever skip a write. Hashes older than
``max_age_days`` (0: no limit) are ignored, so records edited or deleted by hand in Salesforce
are written again the next time they are sent after that.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import typing as t
from pathlib import Path


def content_hash(line: bytes) -> str:
    """Hash of a record's canonical JSON (sorted keys)."""
    return hashlib.blake2b(line, digest_size=16).hexdigest()


class HashStore:
    """SQLite table ``record_hashes(org, generation, sobject, external_id, hash, written_at)``."""

    def __init__(self, path: str | Path | None, max_age_days: float = 7.0) -> None:
        self._lock = threading.Lock()
        self._path = path
        self._conn: sqlite3.Connection | None = None  # opened on first use, not at start-up
        self.max_age_seconds = max(0.0, float(max_age_days)) * 86400
        self.scope: tuple[str, str] | None = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open(self._path)
        return self._conn

    @staticmethod
    def _open(path: str | Path | None) -> sqlite3.Connection:
        if path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # The first version keyed hashes by (sobject, external id) only: never trust it.
        db.execute("DROP TABLE IF EXISTS hashes")
        db.execute(
            "CREATE TABLE IF NOT EXISTS record_hashes (org TEXT NOT NULL, generation TEXT NOT NULL,"
            " sobject TEXT NOT NULL, external_id TEXT NOT NULL, hash TEXT NOT NULL,"
            " written_at REAL NOT NULL, PRIMARY KEY (org, generation, sobject, external_id))"
        )
        db.commit()
        return db

    def bind(self, org: str, generation: str) -> None:
        """Use the hashes of this org and generation (and forget expired ones)."""
        self.scope = (org, generation)
        if self.max_age_seconds:
            with self._lock:
                self._db.execute(
                    "DELETE FROM record_hashes WHERE written_at < ?",
                    (time.time() - self.max_age_seconds,),
                )
                self._db.commit()

    def get_many(self, sobject: str, external_ids: t.Iterable[str]) -> dict[str, str]:
        """Return the stored hash of each of ``external_ids`` that has a fresh one."""
        if self.scope is None:
            return {}
        found: dict[str, str] = {}
        ids = list(external_ids)
        oldest = time.time() - self.max_age_seconds if self.max_age_seconds else 0.0
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT external_id, hash FROM record_hashes WHERE org = ? AND generation = ?"
                    f" AND sobject = ? AND written_at >= ? AND external_id IN ({marks})",
                    [*self.scope, sobject, oldest, *chunk],
                )
                found.update(dict(rows))
        return found

    def put_many(self, sobject: str, items: t.Iterable[tuple[str, str]]) -> None:
        """Record hashes after confirmed writes."""
        if self.scope is None:
            return
        now = time.time()
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO record_hashes (org, generation, sobject, external_id, hash,"
                " written_at) VALUES (?, ?, ?, ?, ?, ?)",
                ((*self.scope, sobject, ext, h, now) for ext, h in items),
            )
            self._db.commit()

    def forget_many(self, sobject: str, external_ids: t.Iterable[str]) -> None:
        """Drop the hashes of records that must be judged again when next sent."""
        if self.scope is None:
            return
        with self._lock:
            self._db.executemany(
                "DELETE FROM record_hashes WHERE org = ? AND generation = ? AND sobject = ?"
                " AND external_id = ?",
                ((*self.scope, sobject, ext) for ext in external_ids),
            )
            self._db.commit()

    def close(self) -> None:
        """Close the store."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
