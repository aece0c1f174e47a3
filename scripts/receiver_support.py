"""The webhook receiver as a real process on a free loopback port, and signed notifications."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

SECRET = "test-client-secret-5f1c"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notification(
    notif_id: str | None = None,
    topic: str = "contact.user.updated",
    created_at: float | None = None,
    item: dict[str, Any] | None = None,
    attempts: int = 1,
) -> bytes:
    """A notification body as Intercom sends it."""
    created = int(time.time()) if created_at is None else created_at
    return json.dumps(
        {
            "type": "notification_event",
            "app_id": "abc123",
            "data": {
                "type": "notification_event_data",
                "item": item or {"type": "contact", "id": uuid.uuid4().hex[:24]},
            },
            "links": {},
            "id": notif_id or f"notif_{uuid.uuid4()}",
            "topic": topic,
            "delivery_status": "pending",
            "delivery_attempts": attempts,
            "delivered_at": 0,
            "first_sent_at": created,
            "created_at": created,
            "self": None,
        }
    ).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    """The X-Hub-Signature header value of body."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class ReceiverProcess:
    """`intercom-webhook-receiver` in a subprocess; its log in `log_path`."""

    def __init__(
        self,
        inbox_url: str,
        log_path: Path,
        *,
        port: int | None = None,
        secret: str = SECRET,
        args: list[str] | None = None,
    ) -> None:
        self.inbox_url = inbox_url
        self.log_path = log_path
        self.port = port or free_port()
        self.secret = secret
        self.args = args or []
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = f"{self.url}/webhooks/intercom"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ReceiverProcess:
        """Start the receiver and wait until it answers; itself."""
        env = {**os.environ, "INTERCOM_WEBHOOK_RECEIVER_CLIENT_SECRET": self.secret}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tap_intercom_events.receiver",
                    "--port",
                    str(self.port),
                    "--inbox-url",
                    self.inbox_url,
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"receiver exited {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"receiver did not become healthy: {self.log()[-2000:]}")

    def log(self) -> str:
        """The receiver log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """Kill -9: no shutdown of any kind."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the receiver (SIGTERM, then SIGKILL after 15 s)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def metrics(self) -> dict[str, float]:
        """The /metrics samples by name (labels included)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    def post(
        self,
        body: bytes,
        sig: str | None = "sign",
        client: httpx.Client | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST body to the webhook URL, signed unless sig is None (or as given)."""
        headers = {"Content-Type": "application/json"}
        if sig == "sign":
            headers["X-Hub-Signature"] = signature(body, self.secret)
        elif sig is not None:
            headers["X-Hub-Signature"] = sig
        return (client or httpx).post(
            self.webhook_url, content=body, headers=headers, timeout=10, **kwargs
        )

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
