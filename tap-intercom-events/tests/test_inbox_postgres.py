"""The PostgreSQL inbox on a real server: dedupe, and a reader that misses nothing when
transactions commit out of numbering order."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest
from tap_intercom_events.inbox import InboxItem, NewNotification, open_inbox

INSERT = (
    "INSERT INTO intercom_inbox (notification_id, topic, received_at, body)"
    " VALUES (%s, 'ping', 0, '\\x7b7d')"
)


def _drain(inbox, offset=None) -> tuple[list[InboxItem], str | None]:
    items: list[InboxItem] = []
    while True:
        page, offset = inbox.read_after(offset, limit=3)
        if not page:
            return items, offset
        items += page


def _advance_xids_near_power_of_ten(url: str, margin: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        current = int(conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
        target = 10 ** len(str(current)) - margin
        for _ in range(max(0, target - current)):
            conn.execute("SELECT pg_current_xact_id()")


def test_add_dedupes_and_reads_in_order(postgres_url: str) -> None:
    inbox = open_inbox(postgres_url)
    assert all(inbox.add(f"n{i}", "contact.user.created", b'{"i": %d}' % i) for i in range(10))
    assert inbox.add("n4", "contact.user.created", b"other") is False
    items, offset = _drain(inbox)
    assert [i.notification_id for i in items] == [f"n{i}" for i in range(10)]
    assert items[4].payload() == {"i": 4}
    assert items[0].topic == "contact.user.created"
    assert offset == items[-1].offset
    assert inbox.read_after(offset) == ([], offset)
    inbox.close()
    # A second inbox object on the same table (another receiver) sees the same rows.
    other = open_inbox(postgres_url)
    assert [i.notification_id for i in _drain(other)[0]] == [f"n{i}" for i in range(10)]
    other.close()


def _wait_for_no_other_transaction(url: str, timeout: float = 30) -> None:
    """Until no other session of the server holds a transaction open.

    The reader returns only rows below its snapshot's xmin, which any open transaction on the
    server (another test's, in any database) holds back: this test needs the server to itself.
    """
    query = (
        "SELECT pid, datname, state, xact_start::text, left(query, 80) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)"
    )
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while (others := conn.execute(query).fetchall()) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert not others, f"other transactions held open on the server for {timeout:g} s: {others}"


def test_out_of_order_commits_are_not_skipped(postgres_url: str) -> None:
    """A takes its transaction id first and commits last; B and C commit in between.

    A reader bookmarking the highest row id would have read B and C, then skipped A for good.
    """
    inbox = open_inbox(postgres_url)
    inbox.add("before", "ping", b"{}")
    _wait_for_no_other_transaction(postgres_url)
    items, offset = _drain(inbox)
    assert [i.notification_id for i in items] == ["before"]
    last_id = int(offset.split(":")[1])

    slow = psycopg.connect(postgres_url)  # a transaction, held open
    slow.execute("SELECT pg_current_xact_id()")  # A's transaction id is given now...
    inbox.add("B", "ping", b"{}")  # ...B and C commit with higher ids
    other = psycopg.connect(postgres_url)
    other.execute(INSERT, ("C-slow",))  # C: inserted (row id lower than A's) but not committed
    slow.execute(INSERT, ("A",))  # A's row: the highest row id, the lowest transaction id
    inbox.add("D", "ping", b"{}")

    # While A and C are open, nothing after them may be returned.
    page, offset2 = inbox.read_after(offset)
    assert page == [] and offset2 == offset
    # The naive reader would already have returned B and D, moving past A's and C's ids.
    with psycopg.connect(postgres_url) as naive:
        seen = [
            r[0]
            for r in naive.execute(
                "SELECT notification_id FROM intercom_inbox WHERE id > %s ORDER BY id", (last_id,)
            )
        ]
    assert seen == ["B", "D"]

    other.commit()  # C commits; A (older transaction id) is still open
    page, offset = inbox.read_after(offset)
    assert page == []  # C's transaction id is above A's: still held back
    slow.commit()
    items, offset = _drain(inbox, offset)
    assert sorted(i.notification_id for i in items) == ["A", "B", "C-slow", "D"]
    assert items[0].notification_id == "A"  # ordered by transaction id: A took its id first
    slow.close()
    other.close()
    inbox.close()


def test_concurrent_writers_holding_transactions_reader_misses_nothing(postgres_url: str) -> None:
    """Eight writers hold their transactions open for random times while a reader follows.

    The transaction ids are made to cross a power of ten during the run, where text and number
    order differ.
    """
    open_inbox(postgres_url).close()
    _advance_xids_near_power_of_ten(postgres_url, margin=150)
    rng = random.Random(7)
    per_writer = 40
    plans = [[rng.uniform(0, 0.03) for _ in range(per_writer)] for _ in range(8)]
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            with psycopg.connect(postgres_url) as conn:
                for i, hold in enumerate(plans[w]):
                    if i % 2:
                        conn.execute("SELECT pg_current_xact_id()")  # id first, row later
                    time.sleep(hold / 2)
                    conn.execute(INSERT, (f"w{w}-{i}",))
                    time.sleep(hold / 2)
                    conn.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    inbox = open_inbox(postgres_url)
    seen: list[InboxItem] = []
    offset = None
    while any(t.is_alive() for t in threads):
        page, offset = inbox.read_after(offset, limit=7)
        seen += page
    for t in threads:
        t.join(timeout=60)
    assert not errors
    rest, offset = _drain(inbox, offset)
    seen += rest
    ids = [i.notification_id for i in seen]
    expected = {f"w{w}-{i}" for w in range(8) for i in range(per_writer)}
    dups = [(i.notification_id, i.offset) for i in seen if ids.count(i.notification_id) > 1]
    assert len(ids) == len(set(ids)) == len(expected), dups
    assert set(ids) == expected
    keys = [tuple(int(p) for p in i.offset.split(":")) for i in seen]
    assert keys == sorted(keys)
    assert len(str(keys[0][0])) < len(str(keys[-1][0]))  # the ids did cross a power of ten
    # Read again from the start, everything committed: the same rows, once each, in order.
    again, _ = _drain(inbox)
    assert [i.offset for i in again] == sorted(
        (i.offset for i in seen), key=lambda o: tuple(int(p) for p in o.split(":"))
    )
    inbox.close()


def test_add_many_one_transaction_dedupes_within_and_across(postgres_url: str) -> None:
    inbox = open_inbox(postgres_url)
    inbox.add("old", "ping", b"{}")
    batch = [
        NewNotification("a", "ping", b"1"),
        NewNotification("old", "ping", b"2"),
        NewNotification("b", "ping", b"3", 5.0),
        NewNotification("a", "ping", b"4"),
    ]
    assert inbox.add_many(batch) == [True, False, True, False]
    items, _ = _drain(inbox)
    assert [(i.notification_id, i.body) for i in items] == [
        ("old", b"{}"),
        ("a", b"1"),
        ("b", b"3"),
    ]
    assert items[2].received_at == 5.0
    assert len({i.offset.split(":")[0] for i in items[1:]}) == 1  # one transaction
    assert inbox.add_many([]) == []
    inbox.close()


def test_a_lost_connection_fails_one_call_then_reconnects(postgres_url: str) -> None:
    inbox = open_inbox(postgres_url)
    assert inbox.add("before", "ping", b"{}")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    # The call on the lost connection fails (the receiver answers 503, Intercom delivers again)...
    with pytest.raises(psycopg.OperationalError):
        inbox.add("lost", "ping", b"{}")
    # ...and the next one connects again.
    assert inbox.add("after", "ping", b"{}")
    inbox.check()
    assert [i.notification_id for i in _drain(inbox)[0]] == ["before", "after"]
    inbox.close()


def test_prune_deletes_old_rows_and_keeps_offsets(postgres_url: str) -> None:
    inbox = open_inbox(postgres_url)
    inbox.add_many([NewNotification(f"old{i}", "ping", b"{}", 1000.0 + i) for i in range(5)])
    inbox.add("new", "ping", b"{}", received_at=5000.0)
    _, offset_after_old = inbox.read_after(None, limit=5)
    assert inbox.prune(2000.0) == 5
    assert [i.notification_id for i in _drain(inbox)[0]] == ["new"]
    assert [i.notification_id for i in _drain(inbox, offset_after_old)[0]] == ["new"]
    inbox.close()
