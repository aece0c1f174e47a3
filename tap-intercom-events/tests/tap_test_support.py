"""Helpers for the tap's tests: run the tap's CLI as a process and read what it printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.testing import EmulatorProcess

TOKEN = "emulator-token"
SEED = {"contacts": 240, "conversations": 50, "seed": 7, "big_conversations": 1, "companies": 15}


@dataclass
class TapRun:
    """What one run of the tap printed."""

    returncode: int
    messages: list[dict[str, Any]]
    stderr: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for message in self.messages:
            if message.get("type") == "RECORD":
                self.records[message["stream"]].append(message["record"])

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def last_state(self) -> dict[str, Any] | None:
        states = self.states
        return states[-1] if states else None

    def ids(self, stream: str, key: str = "id") -> Counter:
        return Counter(record[key] for record in self.records[stream])

    def bookmark(self, stream: str) -> str | None:
        state = self.last_state or {}
        return state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def tap_command() -> list[str]:
    return [sys.executable, "-m", "tap_intercom_events.tap"]


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def run_tap(
    tmp_path: Path,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    timeout: float = 240,
    env: dict[str, str] | None = None,
) -> TapRun:
    """Run ``tap-intercom-events`` as a process, the way Meltano does."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    cmd = [*tap_command(), "--config", str(config_path)]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        cmd += ["--state", str(state_path)]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return TapRun(proc.returncode, parse_messages(proc.stdout), proc.stderr)


def emulator_contact_ids(ic: EmulatorProcess) -> set[str]:
    """Every contact the emulator holds, read from its public ``GET /contacts``."""
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        query = "per_page=150" + (f"&starting_after={cursor}" if cursor else "")
        request = urllib.request.Request(
            f"{ic.url}/contacts?{query}",
            headers={"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            page = json.loads(response.read())
        ids.update(contact["id"] for contact in page["data"])
        cursor = ((page.get("pages") or {}).get("next") or {}).get("starting_after")
        if not cursor:
            return ids


def tap_config(ic: EmulatorProcess, **extra: Any) -> dict[str, Any]:
    return {"access_token": TOKEN, "api_url": ic.url, **extra}
