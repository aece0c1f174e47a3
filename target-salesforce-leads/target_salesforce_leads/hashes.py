"""Content hashes of the last confirmed write per (sObject, external id), kept in SQLite.

A re-sent record whose content hash matches costs no API call. Hashes are recorded only after
Salesforce confirmed the write, so a failed or deferred record is always sent again.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import typing as t
from pathlib import Path


def content_hash(line: bytes) -> str:
    """Hash of a record's canonical JSON (sorted keys)."""
    return hashlib.blake2b(line, digest_size=16).hexdigest()


class HashStore:
    """SQLite table ``hashes(sobject, external_id, hash)``."""

    def __init__(self, path: str | Path | None) -> None:
        self._lock = threading.Lock()
        if path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS hashes (sobject TEXT NOT NULL, external_id TEXT NOT NULL,"
            " hash TEXT NOT NULL, PRIMARY KEY (sobject, external_id))"
        )
        self._db.commit()

    def get_many(self, sobject: str, external_ids: t.Iterable[str]) -> dict[str, str]:
        """Return the stored hash of each of ``external_ids`` that has one."""
        found: dict[str, str] = {}
        ids = list(external_ids)
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT external_id, hash FROM hashes WHERE sobject = ? "
                    f"AND external_id IN ({marks})",
                    [sobject, *chunk],
                )
                found.update(dict(rows))
        return found

    def put_many(self, sobject: str, items: t.Iterable[tuple[str, str]]) -> None:
        """Record hashes after confirmed writes."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO hashes (sobject, external_id, hash) VALUES (?, ?, ?)",
                ((sobject, ext, h) for ext, h in items),
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
