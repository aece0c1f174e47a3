"""Helpers for the inbox-mode tests: notifications shaped as Intercom sends them, and the tap
as a long-running process whose output is read while it runs."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulators.testing import EmulatorProcess
from tap_intercom_events.inbox import Inbox, open_inbox

from .tap_test_support import TOKEN, tap_command


def new_inbox(tmp_path: Path) -> tuple[Inbox, str]:
    """An empty SQLite inbox and its URL."""
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    return open_inbox(url), url


def notify(inbox: Inbox, topic: str, item: dict[str, Any]) -> str:
    """Store one ``notification_event`` (as the receiver would) and return its id."""
    notification_id = f"notif_{uuid.uuid4()}"
    now = int(time.time())
    body = {
        "type": "notification_event",
        "app_id": "emulatorapp",
        "data": {"type": "notification_event_data", "item": item},
        "links": {},
        "id": notification_id,
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": now,
        "created_at": now,
        "self": None,
    }
    assert inbox.add(notification_id, topic, json.dumps(body).encode())
    return notification_id


def contact_item(contact_id: str) -> dict[str, Any]:
    """A partial contact, as in ``contact.*`` notifications."""
    return {"type": "contact", "id": contact_id, "role": "user"}


def conversation_item(conversation_id: str) -> dict[str, Any]:
    """A partial conversation carrying only a new part, as ``conversation.user.replied``."""
    return {
        "type": "conversation",
        "id": conversation_id,
        "conversation_parts": {
            "type": "conversation_part.list",
            "conversation_parts": [
                {"type": "conversation_part", "id": "1", "part_type": "comment", "body": "hi"}
            ],
            "total_count": 1,
        },
    }


def api_get(ic: EmulatorProcess, path: str) -> Any:
    request = urllib.request.Request(
        f"{ic.url}{path}",
        headers={"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def api_delete(ic: EmulatorProcess, path: str) -> Any:
    request = urllib.request.Request(
        f"{ic.url}{path}",
        method="DELETE",
        headers={"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def contact_ids(ic: EmulatorProcess, count: int) -> list[str]:
    """The first ``count`` contacts of the emulator (its public list)."""
    page = api_get(ic, f"/contacts?per_page={count}")
    ids = [contact["id"] for contact in page["data"]]
    assert len(ids) == count
    return ids


def conversation_ids(ic: EmulatorProcess, count: int) -> list[str]:
    page = api_get(ic, f"/conversations?per_page={count}")
    ids = [conversation["id"] for conversation in page["conversations"]]
    assert len(ids) == count
    return ids


def totals(stderr: str) -> dict[str, Any]:
    """The tap's closing ``Inbox mode totals: {...}`` log line."""
    marker = "Inbox mode totals: "
    lines = [line for line in stderr.splitlines() if marker in line]
    assert lines, stderr[-3000:]
    return json.loads(lines[-1].split(marker, 1)[1])


class TapProcess:
    """The tap running in the background; its stdout read line by line as it comes."""

    def __init__(
        self, tmp_path: Path, config: dict[str, Any], state: dict[str, Any] | None = None
    ) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        cmd = [*tap_command(), "--config", str(config_path)]
        if state is not None:
            state_path = tmp_path / "state.json"
            state_path.write_text(json.dumps(state))
            cmd += ["--state", str(state_path)]
        self.stderr_path = tmp_path / "stderr.log"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._stderr, env=dict(os.environ)
        )
        self.messages: list[dict[str, Any]] = []
        self._lines: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if raw.endswith(b"\n"):  # a line cut by kill -9 is not a message
                self._lines.put(json.loads(raw))
        self._lines.put(None)

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60) -> None:
        """Collect messages until ``done(messages)`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done(self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; stderr:\n{self.stderr()[-3000:]}")
            try:
                message = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if message is None:
                raise AssertionError(
                    f"the tap exited ({self.proc.wait()}) first; stderr:\n{self.stderr()[-3000:]}"
                )
            self.messages.append(message)

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        """Wait until the tap has logged ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the log; stderr:\n{self.stderr()[-3000:]}")
            time.sleep(0.05)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, kill: bool = False, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        while True:
            try:
                message = self._lines.get_nowait()
            except queue.Empty:
                break
            if message is not None:
                self.messages.append(message)
        self._stderr.close()
        return code


def records_of(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m.get("type") == "RECORD" and m["stream"] == stream]


def inbox_offsets(messages: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(index in ``messages``, offset) of every STATE carrying an inbox offset."""
    return [
        (index, m["value"]["inbox"]["offset"])
        for index, m in enumerate(messages)
        if m.get("type") == "STATE" and (m["value"].get("inbox") or {}).get("offset")
    ]
