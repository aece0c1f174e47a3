"""The mapper delivers every message it emits without waiting for a buffer to fill.

Over a real pipe (the mapper CLI, stdout block-buffered as under Meltano): what the mapper has
emitted is read by the test while the mapper's standard input is still open.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import typing as t

import pytest

from .map_helpers import CLI, REPO, contact, record


@pytest.fixture
def mapper(tmp_path):
    """The mapper CLI on a pipe; yields (send, receive)."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"reject_file": str(tmp_path / "rejects.jsonl")}))
    proc = subprocess.Popen(
        [str(CLI), "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def send(*messages: dict[str, t.Any]) -> None:
        for message in messages:
            proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()

    def receive(stream: str, timeout: float = 20) -> dict[str, t.Any]:
        """The next RECORD of ``stream`` the mapper wrote (SCHEMA lines skipped)."""
        while True:
            message = json.loads(lines.get(timeout=timeout))
            if message["type"] == "RECORD" and message["stream"] == stream:
                return message["record"]

    try:
        yield send, receive
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_a_lead_reaches_the_pipe_without_a_state_or_the_end_of_input(mapper):
    """A contact's Lead is emitted when the next parent record shows its children are complete;
    it must then reach the pipe at once, though no STATE follows and stdin stays open."""
    send, receive = mapper
    send(
        record("contacts", contact("c1", "one@acme.com")),
        record("contacts", contact("c2", "two@acme.com")),
    )
    lead = receive("Lead")
    assert lead["Intercom_Contact_ID__c"] == "c1"
    # And the next one, when the input goes on one record at a time.
    send(record("contacts", contact("c3", "three@acme.com")))
    assert receive("Lead")["Intercom_Contact_ID__c"] == "c2"
