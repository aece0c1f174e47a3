"""The README's command: `meltano invoke intercom-webhook-receiver` receives and stores."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
from tap_intercom_events.inbox import open_inbox

from scripts.pipeline import MELTANO, ROOT


def test_meltano_invoke_starts_the_receiver(installed_plugins: None, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "meltano-test-secret-41"
    inbox_url = f"sqlite:///{tmp_path}/inbox.db"
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "INTERCOM_WEBHOOK_RECEIVER_CLIENT_SECRET": secret,
        "INTERCOM_WEBHOOK_RECEIVER_PORT": str(port),
        "INTERCOM_WEBHOOK_RECEIVER_INBOX_URL": inbox_url,
    }
    log = tmp_path / "receiver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [MELTANO, "invoke", "intercom-webhook-receiver"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/webhooks/intercom"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.head(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        body = json.dumps(
            {
                "type": "notification_event",
                "id": "notif_meltano",
                "topic": "ping",
                "created_at": int(time.time()),
                "data": {"item": {}},
            }
        ).encode()
        sig = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        resp = httpx.post(url, content=body, headers={"X-Hub-Signature": sig}, timeout=10)
        assert resp.json() == {"status": "stored", "id": "notif_meltano"}
        assert httpx.post(url, content=body, timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    inbox = open_inbox(inbox_url)
    assert [i.body for i in inbox.read_after(None)[0]] == [body]
    inbox.close()
    assert secret not in log.read_text()
