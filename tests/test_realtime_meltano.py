"""`tap-intercom-realtime` in meltano.yml: the tap in inbox mode, reading the receiver's inbox."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import yaml
from emulators.testing import EmulatorProcess
from tap_intercom_events.inbox import DEFAULT_URL, Inbox, open_inbox

from scripts.pipeline import MELTANO, ROOT

ENV = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}


def test_realtime_plugin_reads_the_receivers_default_inbox_with_the_taps_settings() -> None:
    out = subprocess.run(
        [MELTANO, "--environment", "dev", "config", "print", "tap-intercom-realtime"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    config = json.loads(out.stdout[out.stdout.index("{") :])
    assert config["inbox_url"] == DEFAULT_URL  # where the receiver stores by default
    assert config["follow"] is True
    # Everything else is the batch tap's, its environment's values included.
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [dev] = [e for e in project["environments"] if e["name"] == "dev"]
    [tap] = [
        p for p in dev["config"]["plugins"]["extractors"] if p["name"] == "tap-intercom-events"
    ]
    for key, value in tap["config"].items():
        assert config[key] == ("*****" if key == "access_token" else value), key


def test_meltano_invoke_drains_the_inbox(installed_plugins: None, tmp_path: Path) -> None:
    with EmulatorProcess("intercom", tmp_path / "ic") as ic:
        ic.admin(
            "POST", "seed", {"contacts": 20, "conversations": 4, "seed": 3, "big_conversations": 0}
        )
        contacts = _ids(ic, "/contacts?per_page=3", "data")
        inbox_url = f"sqlite:///{tmp_path}/inbox.db"
        inbox = open_inbox(inbox_url)
        for contact_id in contacts:
            _notify(inbox, "contact.user.updated", {"type": "contact", "id": contact_id})
        inbox.close()
        env = {
            **ENV,
            "TAP_INTERCOM_REALTIME_API_URL": ic.url,
            "TAP_INTERCOM_REALTIME_INBOX_URL": inbox_url,
            "TAP_INTERCOM_REALTIME_FOLLOW": "false",
        }
        out = subprocess.run(
            [MELTANO, "invoke", "tap-intercom-realtime"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert out.returncode == 0, out.stderr[-3000:]
    messages = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    emitted = Counter(
        m["record"]["id"] for m in messages if m["type"] == "RECORD" and m["stream"] == "contacts"
    )
    assert emitted == Counter(contacts)
    assert [m["value"]["inbox"] for m in messages if m["type"] == "STATE"] == [{"offset": "3"}]


def _ids(ic: EmulatorProcess, path: str, key: str) -> list[str]:
    request = urllib.request.Request(
        f"{ic.url}{path}",
        headers={"Authorization": "Bearer emulator-token", "Intercom-Version": "2.14"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return [item["id"] for item in json.loads(response.read())[key]]


def _notify(inbox: Inbox, topic: str, item: dict) -> None:
    notification_id = f"notif_{uuid.uuid4()}"
    body = {
        "type": "notification_event",
        "id": notification_id,
        "topic": topic,
        "created_at": int(time.time()),
        "data": {"type": "notification_event_data", "item": item},
    }
    inbox.add(notification_id, topic, json.dumps(body).encode())
