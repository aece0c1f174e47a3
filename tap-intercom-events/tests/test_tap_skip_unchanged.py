"""Records of the lookback window already emitted are not emitted again, nor their children,
when they come back unchanged -- and no change is ever skipped: changes on the bookmark's day,
across local midnight in a non-UTC workspace, during the sync, twice in one second; a bounded
memory, pruned as the bookmark advances; state from before the memory existed.

Against the Intercom emulator over real sockets; API calls counted by the emulator. The
emulator's clock is frozen in the past (its ``Date`` header is the real time, so a record's
second has ended when it is read), except where a test freezes it in the future on purpose.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from emulators.testing import EmulatorProcess
from tap_intercom_events import seen

from .tap_test_support import TapRun, parse_messages, run_tap, tap_command, tap_config

LOOKBACK = 3600
CHILD_ENDPOINTS = (
    "GET /conversations/{conversation_id}",
    "GET /events",
    "GET /contacts/{contact_id}/tags",
    "GET /contacts/{contact_id}/companies",
)
FULL_TABLE_ENDPOINTS = ("GET /admins", "GET /teams", "GET /tags", "GET /companies/scroll")
CONTACTS_SIG = "contacts+contact_event_summaries"
CONVERSATIONS_SIG = "conversations+conversation_parts"


def epoch(value: str) -> int:
    return int(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def local(tz: str, *args: int) -> int:
    return int(datetime.datetime(*args, tzinfo=ZoneInfo(tz)).timestamp())  # type: ignore[misc]


@contextlib.contextmanager
def workspace(
    tmp_path: Path, tz: str, now: int, contacts: int = 80, conversations: int = 20
) -> Iterator[EmulatorProcess]:
    """A seeded emulator in timezone ``tz`` (set through the admin config call), clock at
    ``now``, with 12 contacts and 6 conversations updated in the hour before ``now``."""
    with EmulatorProcess(
        "intercom", tmp_path / "ic", args=["--rate-limit-per-minute", "10000"]
    ) as ic:
        assert ic.admin("POST", "config", {"timezone": tz})["timezone"] == tz
        ic.admin("POST", "clock", {"now": now})
        ic.admin(
            "POST",
            "seed",
            {
                "contacts": contacts,
                "conversations": conversations,
                "seed": 5,
                "big_conversations": 0,
                "companies": 4,
            },
        )
        ids = contact_ids(ic)
        for i, cid in enumerate(ids[:12]):
            ic.admin("PATCH", f"contacts/{cid}", {"updated_at": now - 200 * i})
        for i, conv in enumerate(conversation_ids(ic)[:6]):
            ic.admin("PATCH", f"conversations/{conv}", {"updated_at": now - 300 * i - 50})
        yield ic


def contact_ids(ic: EmulatorProcess) -> list[str]:
    return [c["id"] for c in _search(ic, "contacts")]


def conversation_ids(ic: EmulatorProcess) -> list[str]:
    return [c["id"] for c in _search(ic, "conversations")]


def _search(ic: EmulatorProcess, resource: str) -> list[dict]:
    """Every record, oldest update first (the emulator's public search; not counted here)."""
    import urllib.request

    found: list[dict] = []
    cursor = None
    while True:
        pagination: dict[str, Any] = {"per_page": 150}
        if cursor:
            pagination["starting_after"] = cursor
        body = {
            "query": {"field": "updated_at", "operator": ">", "value": 0},
            "pagination": pagination,
            "sort": {"field": "updated_at", "order": "ascending"},
        }
        request = urllib.request.Request(
            f"{ic.url}/{resource}/search",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": "Bearer emulator-token",
                "Intercom-Version": "2.14",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            page = json.loads(answer.read())
        found += page["data" if resource == "contacts" else "conversations"]
        cursor = ((page.get("pages") or {}).get("next") or {}).get("starting_after")
        if not cursor:
            return found


def config(ic: EmulatorProcess, **extra: Any) -> dict[str, Any]:
    settings = {
        "lookback_window": LOOKBACK,
        "fetch_event_summaries": True,
        "max_concurrency": 4,
        **extra,
    }
    return tap_config(ic, **settings)


def sync(
    ic: EmulatorProcess, tmp_path: Path, state: dict | None = None, tick: bool = True, **extra: Any
) -> TapRun:
    """One run of the tap; ``run.stats`` holds the emulator's counts for this run alone.

    The emulator's clock is frozen: ``tick`` moves it 2 s on first, as time passes between a
    change and the next sync (so the tests hold whichever clock the emulator's ``Date`` uses).
    """
    if tick:
        ic.admin("POST", "clock", {"advance": 2})
    ic.reset_stats()
    run = run_tap(tmp_path, config(ic, **extra), state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    run.stats = ic.stats()  # type: ignore[attr-defined]
    return run


def calls(run: TapRun, endpoint: str) -> int:
    return run.stats["by_endpoint"].get(endpoint, 0)  # type: ignore[attr-defined]


def child_calls(run: TapRun) -> int:
    return sum(calls(run, e) for e in CHILD_ENDPOINTS)


def memory(state: dict, stream: str, sig: str) -> dict[str, int]:
    return state["bookmarks"][stream]["emitted"][sig]


def window(run: TapRun, stream: str) -> set[str]:
    """Records of a run at or after its own final bookmark: what the next run reads again."""
    bookmark = epoch(run.bookmark(stream))
    return {r["id"] for r in run.records[stream] if epoch(r["updated_at"]) >= bookmark}


def assert_nothing_emitted(run: TapRun) -> None:
    for stream in ("contacts", "contact_event_summaries", "conversations", "conversation_parts"):
        assert run.records[stream] == [], f"{stream} re-emitted although nothing changed"
    assert child_calls(run) == 0, run.stats  # type: ignore[attr-defined]


def assert_children_of(run: TapRun, contacts: set[str], conversations: set[str]) -> None:
    """Each emitted contact came with its event summaries' call, each conversation with its
    parts; and no other child was read."""
    assert calls(run, "GET /events") == len(contacts)
    assert calls(run, "GET /conversations/{conversation_id}") == len(conversations)
    assert {p["conversation_id"] for p in run.records["conversation_parts"]} <= conversations
    assert {s["contact_id"] for s in run.records["contact_event_summaries"]} <= contacts


# (a) -------------------------------------------------------------------------------------


def test_nothing_changed_costs_no_record_and_no_child_call(tmp_path: Path) -> None:
    now = local("Pacific/Auckland", 2025, 3, 12, 14, 0)
    with workspace(tmp_path, "Pacific/Auckland", now) as ic:
        first = sync(ic, tmp_path / "r1")
        in_window = window(first, "contacts")
        conv_window = window(first, "conversations")
        assert len(in_window) >= 10 and len(conv_window) >= 5  # the test is not vacuous
        assert set(memory(first.last_state, "contacts", CONTACTS_SIG)) == in_window
        assert set(memory(first.last_state, "conversations", CONVERSATIONS_SIG)) == conv_window

        # Without the memory, the window and its children come back (what it saves).
        again = sync(ic, tmp_path / "r1b", first.last_state, emitted_memory_size=0)
        assert set(again.ids("contacts")) == in_window
        assert calls(again, "GET /events") == len(in_window)
        assert calls(again, "GET /conversations/{conversation_id}") == len(conv_window)

        second = sync(ic, tmp_path / "r2", first.last_state)
        assert_nothing_emitted(second)
        full_table = sum(calls(second, e) for e in FULL_TABLE_ENDPOINTS)
        # The full-table streams' pages; the first run also read /tags for contacts' tag names.
        for endpoint in FULL_TABLE_ENDPOINTS:
            if endpoint != "GET /tags":
                assert calls(second, endpoint) == calls(first, endpoint)
        assert calls(second, "GET /tags") == 1
        # One page per stream: the window read newest first, whose first record is the
        # ceiling; no probe of its own, and no /me (the query is widened by two days instead).
        assert calls(first, "POST /contacts/search") == 2  # a first sync: probe + page
        assert calls(second, "POST /contacts/search") == 1
        assert calls(second, "POST /conversations/search") == 1
        assert calls(second, "GET /me") == 0
        assert second.stats["api_calls"] == full_table + 2  # type: ignore[attr-defined]
        assert second.bookmark("contacts") == first.bookmark("contacts")
        assert "were not emitted again" in second.stderr
        # Skipped records stay remembered: the next run is as cheap.
        assert memory(second.last_state, "contacts", CONTACTS_SIG) == memory(
            first.last_state, "contacts", CONTACTS_SIG
        )
        third = sync(ic, tmp_path / "r3", second.last_state)
        assert_nothing_emitted(third)


def test_a_window_larger_than_the_pages_held_is_read_oldest_first(tmp_path: Path) -> None:
    """More than ``window_pages`` (10) pages since the bookmark: the window is read again
    oldest first, with the workspace's timezone; nothing unchanged is emitted, a change is."""
    now = local("Pacific/Auckland", 2025, 3, 12, 14, 0)
    with workspace(tmp_path, "Pacific/Auckland", now) as ic:
        first = sync(ic, tmp_path / "r1")
        in_window = window(first, "contacts")
        assert len(in_window) > 10  # more than 10 pages of one record
        second = sync(ic, tmp_path / "r2", first.last_state, page_size=1)
        assert_nothing_emitted(second)
        assert "reading them oldest first" in second.stderr
        assert calls(second, "GET /me") == 1
        # 10 pages newest first, then the floor's whole day oldest first (no second probe).
        assert calls(second, "POST /contacts/search") > 10 + len(in_window)
        changed = sorted(in_window)[0]
        ic.admin("PATCH", f"contacts/{changed}", {"name": "changed"})
        third = sync(ic, tmp_path / "r3", second.last_state, page_size=1)
        assert third.ids("contacts") == {changed: 1}
        assert third.records["contacts"][0]["name"] == "changed"
        assert_children_of(third, {changed}, set())


# (b) -------------------------------------------------------------------------------------


def test_changes_on_the_bookmarks_day_are_emitted_with_their_children(tmp_path: Path) -> None:
    tz = "Pacific/Auckland"
    now = local(tz, 2025, 3, 12, 14, 0)
    with workspace(tmp_path, tz, now) as ic:
        first = sync(ic, tmp_path / "r1")
        bookmark = epoch(first.bookmark("contacts"))
        conv_bookmark = epoch(first.bookmark("conversations"))
        by_time = sorted(first.records["contacts"], key=lambda c: c["updated_at"])
        remembered = memory(first.last_state, "contacts", CONTACTS_SIG)
        in_memory = [c["id"] for c in by_time if c["id"] in remembered]
        day = datetime.datetime.fromtimestamp(bookmark, ZoneInfo(tz)).date()
        # Older than the bookmark but on its day (the search returns them, the tap drops them).
        same_day_old = [
            c["id"]
            for c in by_time
            if epoch(c["updated_at"]) < bookmark
            and datetime.datetime.fromtimestamp(epoch(c["updated_at"]), ZoneInfo(tz)).date() == day
        ]
        older = [c["id"] for c in by_time if epoch(c["updated_at"]) < bookmark]
        if len(same_day_old) < 2:
            same_day_old = older[-2:]
            for i, cid in enumerate(same_day_old):  # put two on the bookmark's day first
                ic.admin("PATCH", f"contacts/{cid}", {"updated_at": bookmark - 100 - i})
        assert len(in_memory) >= 6
        changes = {
            in_memory[0]: bookmark + 5,  # remembered, changed after the bookmark second
            in_memory[1]: bookmark,  # remembered, changed to the bookmark second itself
            in_memory[-1]: epoch(by_time[-1]["updated_at"]) - 1,  # moved back, still >= bookmark
            in_memory[2]: now,  # remembered, changed to the newest second
            same_day_old[0]: bookmark,  # was before the bookmark second, now at it
            same_day_old[1]: bookmark + 7,  # was before the bookmark second, now after it
        }
        before = {c["id"]: epoch(c["updated_at"]) for c in by_time}
        assert all(before[cid] != at for cid, at in changes.items())  # each one a change
        for cid, at in changes.items():
            ic.admin("PATCH", f"contacts/{cid}", {"updated_at": at, "name": f"changed {at}"})
        conv_remembered = list(memory(first.last_state, "conversations", CONVERSATIONS_SIG))
        old_conv = next(
            c["id"]
            for c in sorted(first.records["conversations"], key=lambda c: c["updated_at"])
            if epoch(c["updated_at"]) < conv_bookmark
        )
        ic.admin("PATCH", f"conversations/{old_conv}", {"updated_at": conv_bookmark + 3})
        grown = ic.admin("POST", f"conversations/{conv_remembered[0]}/parts", {"count": 2})
        changed_convs = {old_conv, conv_remembered[0]}

        second = sync(ic, tmp_path / "r2", first.last_state)
        assert set(second.ids("contacts")) == set(changes), "emitted exactly what changed"
        # One GET /tags serves the tags stream and the names of the contacts' tags.
        assert calls(second, "GET /tags") == 1
        tag_names = {t["id"]: t["name"] for t in second.records["tags"]}
        contact_tags = [t for c in second.records["contacts"] for t in c["tags"]["data"]]
        assert all(t["name"] == tag_names[t["id"]] for t in contact_tags)
        for contact in second.records["contacts"]:
            assert epoch(contact["updated_at"]) == changes[contact["id"]]
            assert contact["name"] == f"changed {changes[contact['id']]}"
        assert set(second.ids("conversations")) == changed_convs
        parts = [
            p
            for p in second.records["conversation_parts"]
            if p["conversation_id"] == conv_remembered[0]
        ]
        assert len(parts) == grown["count_conversation_parts"]
        assert_children_of(second, set(changes), changed_convs)
        assert epoch(second.bookmark("contacts")) >= bookmark

        third = sync(ic, tmp_path / "r3", second.last_state)
        assert_nothing_emitted(third)


# (c) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Pacific/Auckland"])
def test_changes_across_local_midnight_in_a_non_utc_workspace(tmp_path: Path, tz: str) -> None:
    # 23:50 in the workspace: its day turns over in ten minutes (a different UTC hour).
    now = local(tz, 2025, 3, 20, 23, 50)
    midnight = local(tz, 2025, 3, 21)
    with workspace(tmp_path, tz, now) as ic:
        first = sync(ic, tmp_path / "r1")
        remembered = list(memory(first.last_state, "contacts", CONTACTS_SIG))
        conv_remembered = list(memory(first.last_state, "conversations", CONVERSATIONS_SIG))
        older = [
            c["id"]
            for c in sorted(first.records["contacts"], key=lambda c: c["updated_at"])
            if c["id"] not in remembered
        ]
        ic.admin("POST", "clock", {"now": midnight + 300})
        changes = {
            remembered[0]: midnight - 30,
            remembered[1]: midnight - 1,
            remembered[2]: midnight,
            older[0]: midnight - 2,
            older[1]: midnight + 1,
        }
        for cid, at in changes.items():
            ic.admin("PATCH", f"contacts/{cid}", {"updated_at": at})
        ic.admin("PATCH", f"contacts/{older[2]}", {})  # at the clock: after midnight
        changes[older[2]] = midnight + 300
        ic.admin("PATCH", f"conversations/{conv_remembered[0]}", {"updated_at": midnight - 1})
        ic.admin("PATCH", f"conversations/{conv_remembered[1]}", {"updated_at": midnight + 2})

        second = sync(ic, tmp_path / "r2", first.last_state)
        assert set(second.ids("contacts")) == set(changes)
        assert {epoch(c["updated_at"]) for c in second.records["contacts"]} == set(changes.values())
        assert set(second.ids("conversations")) == set(conv_remembered[:2])
        assert_children_of(second, set(changes), set(conv_remembered[:2]))

        # The next day: the bookmark crosses midnight; a change on the new day is still read.
        ic.admin("POST", "clock", {"advance": 2 * LOOKBACK})
        ic.admin("PATCH", f"contacts/{older[3]}", {})
        third = sync(ic, tmp_path / "r3", second.last_state)
        assert set(third.ids("contacts")) == {older[3]}
        assert datetime.datetime.fromtimestamp(
            epoch(third.bookmark("contacts")), ZoneInfo(tz)
        ).date() == datetime.date(2025, 3, 21)
        fourth = sync(ic, tmp_path / "r4", third.last_state)
        assert_nothing_emitted(fourth)


# (d) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["first record", "first page"])
def test_a_change_during_the_sync_is_emitted_in_this_run_or_the_next(
    tmp_path: Path, trigger: str
) -> None:
    # "first page": while the window is read newest first (after its first page, before the
    # last), records move from pages not read yet to above the newest one.
    tz = "Pacific/Auckland"
    now = local(tz, 2025, 3, 12, 14, 0)
    with workspace(tmp_path, tz, now) as ic:
        first = sync(ic, tmp_path / "r1")
        bookmark = epoch(first.bookmark("contacts"))
        by_time = sorted(first.records["contacts"], key=lambda c: c["updated_at"])
        remembered = memory(first.last_state, "contacts", CONTACTS_SIG)
        in_memory = [c["id"] for c in by_time if c["id"] in remembered]
        older = [c["id"] for c in by_time if c["id"] not in remembered]
        # One change before the sync, first in the window: its record starts the changes.
        ic.admin("PATCH", f"contacts/{older[0]}", {"updated_at": bookmark})
        during = [*in_memory[-3:], *older[1:3]]  # some not reached yet, some long passed
        conv_during = list(memory(first.last_state, "conversations", CONVERSATIONS_SIG))[-1]

        ic.admin("POST", "clock", {"advance": 2})
        ic.admin("POST", "faults", {"kind": "latency", "ms": 150})
        try:
            second = _run_changing_during_sync(
                ic, tmp_path / "r2", first.last_state, during, conv_during, trigger
            )
        finally:
            ic.admin("DELETE", "faults")
        changed_at = second.changed_at  # type: ignore[attr-defined]
        third = sync(ic, tmp_path / "r3", second.last_state)
        for cid in during:
            versions = [
                (run, c)
                for run in (second, third)
                for c in run.records["contacts"]
                if c["id"] == cid and epoch(c["updated_at"]) == changed_at
            ]
            assert versions, f"contact {cid} changed during the sync was never emitted"
        conv_versions = [
            c
            for run in (second, third)
            for c in run.records["conversations"]
            if c["id"] == conv_during and epoch(c["updated_at"]) == changed_at
        ]
        assert conv_versions, "conversation changed during the sync was never emitted"
        assert epoch(second.bookmark("contacts")) < changed_at
        fourth = sync(ic, tmp_path / "r4", third.last_state)
        assert_nothing_emitted(fourth)


def _run_changing_during_sync(
    ic: EmulatorProcess,
    tmp_path: Path,
    state: dict,
    during: list[str],
    conv_during: str,
    trigger: str,
) -> TapRun:
    """Run the tap; at its first contact record (or once the first page of contacts is
    answered), advance the clock and change records."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    ic.reset_stats()
    done = threading.Event()
    changed_at = 0

    def change() -> None:
        nonlocal changed_at
        changed_at = ic.admin("POST", "clock", {"advance": 300})["now"]
        for cid in during:
            ic.admin("PATCH", f"contacts/{cid}", {})
        ic.admin("PATCH", f"conversations/{conv_during}", {})
        done.set()

    def after_first_page() -> None:
        while not done.is_set():
            if ic.stats()["by_endpoint"].get("POST /contacts/search", 0) >= 1:
                change()
                return
            done.wait(0.01)

    (tmp_path / "config.json").write_text(json.dumps(config(ic, page_size=2)))
    (tmp_path / "state.json").write_text(json.dumps(state))
    proc = subprocess.Popen(
        [
            *tap_command(),
            "--config",
            str(tmp_path / "config.json"),
            "--state",
            str(tmp_path / "state.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()))
    reader.start()
    watcher = threading.Thread(target=after_first_page)
    if trigger == "first page":
        watcher.start()
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if (
            trigger == "first record"
            and not done.is_set()
            and '"stream":"contacts"' in line.replace(" ", "")
            and '"RECORD"' in line
        ):
            change()
    proc.wait(timeout=120)
    reader.join()
    done.set()
    if trigger == "first page":
        watcher.join()
    assert changed_at, "the tap read no contact to start the changes"
    run = TapRun(proc.returncode, parse_messages("".join(lines)), "".join(errors))
    assert run.returncode == 0, run.stderr[-3000:]
    run.changed_at = changed_at  # type: ignore[attr-defined]
    return run


# Two changes within one second -----------------------------------------------------------


def test_a_second_change_in_the_same_second_is_not_skipped(tmp_path: Path) -> None:
    """With the clock in the future, Intercom's ``Date`` cannot prove that the newest second
    has ended: a record read in that second is not remembered, so a second change within it
    (same ``updated_at``) is emitted."""
    tz = "Pacific/Auckland"
    now = int(datetime.datetime(2100, 1, 5, 12, tzinfo=datetime.timezone.utc).timestamp())
    with workspace(tmp_path, tz, now) as ic:
        newest = contact_ids(ic)[0]
        ic.admin("PATCH", f"contacts/{newest}", {"name": "first"})  # at `now`, the newest
        first = sync(ic, tmp_path / "r1", tick=False)
        at_now = {c["id"] for c in first.records["contacts"] if epoch(c["updated_at"]) == now}
        assert newest in at_now
        assert not at_now & set(memory(first.last_state, "contacts", CONTACTS_SIG))
        # Records of earlier seconds are remembered (the newest one proves they ended).
        assert len(memory(first.last_state, "contacts", CONTACTS_SIG)) >= 10
        ic.admin("PATCH", f"contacts/{newest}", {"name": "second"})  # same second
        second = sync(ic, tmp_path / "r2", first.last_state, tick=False)
        names = {c["id"]: c["name"] for c in second.records["contacts"]}
        assert set(names) == at_now and names[newest] == "second"
        assert calls(second, "GET /events") == len(at_now)


# (e) -------------------------------------------------------------------------------------


def test_the_memory_is_bounded_and_pruned_as_the_bookmark_advances(tmp_path: Path) -> None:
    tz = "Pacific/Auckland"
    now = local(tz, 2025, 3, 12, 14, 0)
    with workspace(tmp_path, tz, now) as ic:
        first = sync(ic, tmp_path / "r1", emitted_memory_size=5)
        in_window = window(first, "contacts")
        kept = memory(first.last_state, "contacts", CONTACTS_SIG)
        assert len(kept) == 5 < len(in_window)
        newest = sorted(first.records["contacts"], key=lambda c: (c["updated_at"], c["id"]))
        assert set(kept) == {c["id"] for c in newest[-5:]}, "the newest are kept"
        assert "emitted_memory_size is 5" in first.stderr
        # Those not kept are emitted again (never skipped when unsure), the kept ones not.
        second = sync(ic, tmp_path / "r2", first.last_state, emitted_memory_size=5)
        assert set(second.ids("contacts")) == in_window - set(kept)
        assert calls(second, "GET /events") == len(in_window) - 5

        # The bookmark moves past the whole old window: its entries are pruned.
        full = sync(ic, tmp_path / "r3", second.last_state)
        assert set(memory(full.last_state, "contacts", CONTACTS_SIG)) == in_window
        ic.admin("POST", "clock", {"advance": 2 * LOOKBACK})
        moved = sorted(in_window)[:2]
        for cid in moved:
            ic.admin("PATCH", f"contacts/{cid}", {})
        later = sync(ic, tmp_path / "r4", full.last_state)
        assert set(later.ids("contacts")) == set(moved)
        after = memory(later.last_state, "contacts", CONTACTS_SIG)
        assert set(after) == set(moved)
        assert min(after.values()) >= epoch(later.bookmark("contacts"))


def test_state_from_before_the_memory_and_a_changed_signature(tmp_path: Path) -> None:
    tz = "Pacific/Auckland"
    now = local(tz, 2025, 3, 12, 14, 0)
    with workspace(tmp_path, tz, now) as ic:
        first = sync(ic, tmp_path / "r1")
        in_window = window(first, "contacts")
        conv_window = window(first, "conversations")
        old_state = copy.deepcopy(first.last_state)
        for stream in ("contacts", "conversations"):
            del old_state["bookmarks"][stream]["emitted"]
        # The state of the tap before this change: emits the window as it always did.
        upgraded = sync(ic, tmp_path / "r2", old_state)
        assert set(upgraded.ids("contacts")) == in_window
        assert set(upgraded.ids("conversations")) == conv_window
        assert calls(upgraded, "GET /events") == len(in_window)
        assert calls(upgraded, "GET /conversations/{conversation_id}") == len(conv_window)
        assert set(memory(upgraded.last_state, "contacts", CONTACTS_SIG)) == in_window
        after = sync(ic, tmp_path / "r3", upgraded.last_state)
        assert_nothing_emitted(after)

        # Contacts emitted without their event summaries are not "already emitted" once the
        # summaries are switched on.
        without = sync(ic, tmp_path / "r4", old_state, fetch_event_summaries=False)
        assert set(memory(without.last_state, "contacts", "contacts")) == in_window
        with_summaries = sync(ic, tmp_path / "r5", without.last_state)
        assert set(with_summaries.ids("contacts")) == in_window
        assert calls(with_summaries, "GET /events") == len(in_window)
        assert list(with_summaries.last_state["bookmarks"]["contacts"]["emitted"]) == [CONTACTS_SIG]


# The memory on its own -------------------------------------------------------------------


def test_memory_logic_in_process() -> None:
    state: dict[str, Any] = {
        "replication_key_value": "x",
        "emitted": {
            "a+b": {"old": 90, "k1": 100, "k2": 101, "bad": "101", "k3": 103},
            "other": {"k9": 200},
        },
    }
    mem = seen.EmittedMemory.from_state(state, "a+b", limit=3, floor=100)
    assert list(mem.entries) == ["k1", "k2", "k3"]  # below the floor and malformed dropped
    mem.attach(state)
    assert list(state["emitted"]) == ["a+b"]  # other signatures' memories go
    assert mem.unchanged("k2", 101) and not mem.unchanged("k2", 102)
    assert not mem.unchanged("k2", "101") and not mem.unchanged("zz", 101)
    assert mem.skipped == 1

    mem.settled_before = 110
    mem.remember("k4", 105)  # fourth entry: the oldest goes
    assert list(mem.entries) == ["k2", "k3", "k4"] and mem.evicted == 1
    assert state["emitted"]["a+b"] is mem.entries  # the state carries the live memory
    mem.remember("k3", 110)  # its second may not have ended: forgotten, not updated
    assert "k3" not in mem.entries and not mem.unchanged("k3", 103)
    mem.remember("k2", 104)  # a newer claim replaces the older one
    assert mem.entries["k2"] == 104 and not mem.unchanged("k2", 101)

    mem.remember("k5", 99)  # written late but the oldest
    assert set(mem.entries) == {"k2", "k4", "k5"} and mem.evicted == 1
    mem.remember("k6", 106)  # full: the oldest goes, although it was written last
    assert set(mem.entries) == {"k2", "k4", "k6"} and mem.evicted == 2
    mem.forget_before(105)
    assert set(mem.entries) == {"k4", "k6"}
    mem.compact(106)
    assert list(mem.entries.items()) == [("k6", 106)]
    mem.remember("k7", 100)
    mem.compact(0)
    assert list(mem.entries) == ["k7", "k6"]  # in updated_at order

    nothing = seen.EmittedMemory.from_state(state, "a+b", limit=0, floor=0)
    assert not nothing.entries
    nothing.settled_before = 10**12
    nothing.remember("k6", 5)
    assert not nothing.entries
    nothing.attach(state)
    assert "emitted" not in state
    unsure = seen.EmittedMemory("s", 10)
    unsure.remember("k7", 5)  # nothing known about the clock: nothing remembered
    assert not unsure.entries


def test_signature_and_settled_limit() -> None:
    assert seen.signature(["contacts", "contact_event_summaries"]) == CONTACTS_SIG
    assert seen.signature([]) == "nothing"
    mapped = seen.signature(["contacts"], {"stream_maps": {"contacts": {"email": None}}})
    assert mapped.startswith("contacts#maps=") and mapped != seen.signature(
        ["contacts"], {"stream_maps": {"contacts": {"name": None}}}
    )
    assert seen.settled_before(None, None) is None
    assert seen.settled_before(1000, None) == 1000
    date = "Wed, 12 Mar 2025 01:00:00 GMT"
    at = int(datetime.datetime(2025, 3, 12, 1, tzinfo=datetime.timezone.utc).timestamp())
    assert seen.settled_before(1000, date) == at - seen.CLOCK_SLACK
    assert seen.settled_before(at + 50, date) == at + 50
    assert seen.settled_before(1000, "not a date") == 1000
