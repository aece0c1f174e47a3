"""A webhook endpoint for the tests: a real HTTP server on a loopback port that records requests.

It answers HEAD with `head_status`, and POST with 200 unless told otherwise: the next
`fail_next` requests answer `fail_status`, `always_status` (when set) answers every request,
and the next `slow_next` requests answer only after `slow_seconds`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emulators.testing import free_port

SECRET = "whsec-test-secret"


class Receiver:
    """A real HTTP endpoint on a loopback port that records notifications."""

    def __init__(self, head_status: int = 200) -> None:
        self.head_status = head_status
        self.fail_next = 0
        self.fail_status = 500
        self.always_status: int | None = None
        self.slow_next = 0
        self.slow_seconds = 0.0
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
                self.send_response(receiver.head_status)
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    slow = receiver.slow_next > 0
                    receiver.slow_next -= slow
                    fail = receiver.fail_next > 0
                    receiver.fail_next -= fail
                    status = receiver.fail_status if fail else 200
                    if receiver.always_status is not None:
                        status = receiver.always_status
                    receiver.received.append(
                        {
                            "time": time.monotonic(),
                            "raw": raw,
                            "signature": self.headers["X-Hub-Signature"],
                            "status": status,
                            "slow": slow,
                        }
                    )
                if slow:
                    time.sleep(receiver.slow_seconds)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops connections under a burst
            daemon_threads = True

        self.port = free_port()
        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def notifications(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = [json.loads(r["raw"]) for r in self.received]
        return [n for n in out if topic is None or n["topic"] == topic]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(
            f"timed out; received {len(self.received)} requests: {self.notifications()[-5:]}"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
