"""A sync killed mid-way and started again from its last STATE loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess

from .tap_test_support import TapRun, parse_messages, run_tap, tap_command, tap_config


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    with EmulatorProcess(
        "intercom", tmp_path_factory.mktemp("ic-kill"), args=["--rate-limit-per-minute", "10000"]
    ) as ic:
        ic.admin(
            "POST",
            "seed",
            {"contacts": 150, "conversations": 60, "seed": 11, "big_conversations": 0},
        )
        yield ic


def _killed_run(ic: EmulatorProcess, tmp_path: Path, after_conversations: int) -> TapRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(ic, page_size=10, max_concurrency=3)))
    proc = subprocess.Popen(
        [*tap_command(), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    seen = 0
    for line in proc.stdout:
        lines.append(line)
        message = json.loads(line)
        if message.get("type") == "RECORD" and message["stream"] == "conversations":
            seen += 1
            if seen >= after_conversations:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=30)
    proc.stdout.close()
    return TapRun(proc.returncode, parse_messages("".join(lines)), "")


def test_killed_run_resumes_without_loss(workspace: EmulatorProcess, tmp_path: Path) -> None:
    workspace.admin("POST", "faults", {"kind": "latency", "ms": 20})
    try:
        killed = _killed_run(workspace, tmp_path / "killed", after_conversations=25)
    finally:
        workspace.admin("DELETE", "faults")
    assert killed.returncode == -signal.SIGKILL
    state = killed.last_state
    assert state is not None
    resumed_from = state["bookmarks"]["conversations"].get("replication_key_value")
    assert resumed_from, "no conversation progress was saved before the kill"

    # Every STATE only covers conversations already emitted, with all their parts.
    emitted_at: list[str] = []
    parts_seen: dict[str, int] = {}
    complete: dict[str, bool] = {}
    for message in killed.messages:
        if message["type"] == "RECORD" and message["stream"] == "conversations":
            record = message["record"]
            emitted_at.append(record["updated_at"])
            complete[record["id"]] = False
            expected = record["statistics"]["count_conversation_parts"]
            complete[record["id"]] = expected == 0
            parts_seen[record["id"]] = 0
            last_id, last_expected = record["id"], expected
        elif message["type"] == "RECORD" and message["stream"] == "conversation_parts":
            parts_seen[last_id] += 1
            complete[last_id] = parts_seen[last_id] == last_expected
        elif message["type"] == "STATE":
            value = message["value"]["bookmarks"].get("conversations", {})
            mark = value.get("replication_key_value")
            if mark and emitted_at:
                assert mark <= max(emitted_at), "state passed records not yet emitted"
                assert all(complete.values()), "state written before a conversation's parts"

    resumed = run_tap(tmp_path / "resumed", tap_config(workspace), state=state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.bookmark("conversations") >= resumed_from

    union_contacts = set(killed.ids("contacts")) | set(resumed.ids("contacts"))
    assert len(union_contacts) == 150
    union_convs = set(killed.ids("conversations")) | set(resumed.ids("conversations"))
    assert len(union_convs) == 60
    # Parts: every conversation's parts arrive complete in one run or the other.
    by_run = [killed.records["conversation_parts"], resumed.records["conversation_parts"]]
    conversations = {c["id"]: c for c in killed.records["conversations"]}
    conversations.update({c["id"]: c for c in resumed.records["conversations"]})
    for conversation_id, conversation in conversations.items():
        expected = conversation["statistics"]["count_conversation_parts"]
        counts = [
            sum(1 for p in parts if p["conversation_id"] == conversation_id) for parts in by_run
        ]
        assert expected in counts, conversation_id
    # The resumed run did not start over: it skipped what the saved state covered.
    assert len(resumed.ids("conversations")) < 60
