"""The SQLite inbox: dedupe, order, offsets, durability across processes."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from tap_intercom_events.inbox import InboxItem, NewNotification, open_inbox, redact


def _body(n: int) -> bytes:
    return json.dumps({"type": "notification_event", "id": f"notif_{n}", "topic": "ping"}).encode()


def _read_all(inbox, offset=None, limit=7) -> tuple[list[InboxItem], str | None]:
    items: list[InboxItem] = []
    while True:
        page, offset = inbox.read_after(offset, limit=limit)
        if not page:
            return items, offset
        items += page


def test_add_dedupes_and_reads_in_order(tmp_path: Path) -> None:
    inbox = open_inbox(f"sqlite:///{tmp_path}/inbox.db")
    assert [
        inbox.add(f"notif_{n}", "ping", _body(n), received_at=100.0 + n) for n in range(20)
    ] == [True] * 20
    assert inbox.add("notif_3", "ping", b"another body") is False
    items, offset = _read_all(inbox)
    assert [i.notification_id for i in items] == [f"notif_{n}" for n in range(20)]
    assert items[3].body == _body(3)  # the first body stays
    assert items[3].payload()["id"] == "notif_3"
    assert items[5].received_at == 105.0
    assert offset == items[-1].offset
    # Nothing after the last offset; the offset comes back unchanged.
    assert inbox.read_after(offset) == ([], offset)
    inbox.add("notif_new", "ping", _body(99))
    page, offset2 = inbox.read_after(offset)
    assert [i.notification_id for i in page] == ["notif_new"]
    assert offset2 == page[0].offset
    # Empty inbox from the start: None stays None.
    inbox.close()
    empty = open_inbox(f"sqlite:///{tmp_path}/empty.db")
    assert empty.read_after(None) == ([], None)
    empty.close()


def test_wal_mode_and_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "inbox.db"
    inbox = open_inbox(f"sqlite:///{path}")
    inbox.add("n1", "ping", b"{}")
    inbox.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_inbox_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "inbox.db"
    inbox = open_inbox(f"sqlite:///{path}")
    inbox.add("n1", "ping", b"{}")  # the -wal and -shm files exist while it is open
    files = [p for p in path.parent.iterdir()]
    assert {p.name for p in files} >= {"inbox.db", "inbox.db-wal"}
    assert path.parent.stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in files), {
        p.name: oct(p.stat().st_mode) for p in files
    }
    inbox.close()
    # An inbox made before (by hand, mode 0644) is tightened when opened.
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    open_inbox(f"sqlite:///{old}").close()
    assert old.stat().st_mode & 0o077 == 0


def test_bad_urls_and_offsets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither sqlite"):
        open_inbox("mysql://x/y")
    inbox = open_inbox(f"sqlite:///{tmp_path}/inbox.db")
    with pytest.raises(ValueError, match="another inbox_url"):
        inbox.read_after("12:34")
    with pytest.raises(ValueError, match="limit"):
        inbox.read_after(None, limit=0)
    inbox.close()
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert "s3cret" not in redact("postgresql://me:s3cret@db/x")


def _writer(path: str, prefix: str, n: int) -> None:
    inbox = open_inbox(f"sqlite:///{path}")
    for i in range(n):
        inbox.add(f"{prefix}{i}", "ping", _body(i))
    inbox.close()


def test_concurrent_writer_processes_reader_misses_nothing(tmp_path: Path) -> None:
    """Two processes write the same file while a reader follows: every row read once, in order."""
    path = str(tmp_path / "inbox.db")
    open_inbox(f"sqlite:///{path}").close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, p, 300)) for p in ("a", "b")]
    for p in procs:
        p.start()
    reader = open_inbox(f"sqlite:///{path}")
    seen: list[InboxItem] = []
    offset = None
    while any(p.is_alive() for p in procs):
        page, offset = reader.read_after(offset, limit=50)
        seen += page
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    rest, offset = _read_all(reader, offset)
    seen += rest
    ids = [i.notification_id for i in seen]
    assert sorted(ids) == sorted([f"a{i}" for i in range(300)] + [f"b{i}" for i in range(300)])
    assert len(ids) == len(set(ids))
    assert [int(i.offset) for i in seen] == sorted(int(i.offset) for i in seen)
    reader.close()


def test_add_many_one_transaction_dedupes_within_and_across(tmp_path: Path) -> None:
    inbox = open_inbox(f"sqlite:///{tmp_path}/inbox.db")
    inbox.add("old", "ping", b"{}")
    batch = [
        NewNotification("a", "ping", b"1"),
        NewNotification("old", "ping", b"2"),
        NewNotification("b", "ping", b"3", 5.0),
        NewNotification("a", "ping", b"4"),
    ]
    assert inbox.add_many(batch) == [True, False, True, False]
    items, _ = inbox.read_after(None)
    assert [(i.notification_id, i.body) for i in items] == [
        ("old", b"{}"),
        ("a", b"1"),
        ("b", b"3"),
    ]
    assert items[2].received_at == 5.0
    assert inbox.add_many([]) == []
    inbox.close()


def test_prune_deletes_old_rows_and_keeps_offsets(tmp_path: Path, monkeypatch) -> None:
    import tap_intercom_events.inbox as inbox_module

    monkeypatch.setattr(inbox_module, "PRUNE_CHUNK", 3)  # several chunks
    inbox = open_inbox(f"sqlite:///{tmp_path}/inbox.db")
    for i in range(8):
        inbox.add(f"old{i}", "ping", b"{}", received_at=1000.0 + i)
    inbox.add("new", "ping", b"{}", received_at=5000.0)
    _, offset_after_old = inbox.read_after(None, limit=8)
    assert inbox.prune(2000.0) == 8
    assert inbox.prune(2000.0) == 0
    assert [i.notification_id for i in inbox.read_after(None)[0]] == ["new"]
    # A bookmark taken before the prune still resumes at the right place; numbers not reused.
    assert [i.notification_id for i in inbox.read_after(offset_after_old)[0]] == ["new"]
    inbox.add("newer", "ping", b"{}")
    items, _ = inbox.read_after(None)
    assert [i.notification_id for i in items] == ["new", "newer"]
    assert int(items[1].offset) == 10
    inbox.close()
