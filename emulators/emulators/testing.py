"""Start an emulator as a real server process on a free loopback port, for tests and benchmarks.

Both emulators expose the same admin surface under ``/_emulator/`` (no auth, never counted as
API calls): ``GET health``, ``GET stats``, ``POST stats/reset``, ``POST faults``,
``DELETE faults``, ``POST reset`` and emulator-specific endpoints documented in
``emulators/README.md``.

Emulator flags pass through ``args``, e.g. ``EmulatorProcess("salesforce", d,
args=["--drop-field", "Lead.Intercom_Qualification__c",
"--restricted-picklist", "Lead.LeadSource=Web,Other"])``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """One emulator server process (`emulator KIND --port P --data-dir D ...`)."""

    def __init__(
        self,
        kind: str,
        data_dir: str | os.PathLike[str],
        args: list[str] | tuple[str, ...] = (),
        port: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        if kind not in {"salesforce", "intercom"}:
            raise ValueError(f"unknown emulator kind {kind!r}")
        self.kind = kind
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._org_id: str | None = None
        self.log_path = self.data_dir / f"{kind}-server.log"

    @property
    def scheme(self) -> str:
        """``https`` for Salesforce, ``http`` for Intercom."""
        return "https" if self.kind == "salesforce" else "http"

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``https://127.0.0.1:PORT``."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        """CA certificate the Salesforce emulator writes for clients to trust."""
        return self.data_dir / "ca.pem"

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.scheme != "https":
            return None
        return ssl.create_default_context(cafile=str(self.ca_path))

    def start(self) -> EmulatorProcess:
        """Start the server and wait until it answers ``GET health``."""
        self._org_id = None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "emulators",
            self.kind,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} emulator exited with {self.proc.returncode}; "
                    f"see {self.log_path}:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                if self.scheme == "https" and not self.ca_path.exists():
                    raise FileNotFoundError(self.ca_path)
                self.admin("GET", "health")
                return self
            except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                last_error = exc
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} emulator did not start in time: {last_error}")

    def admin(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        """Call ``/_emulator/<path>`` and return the decoded JSON answer (or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}/_emulator/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl_context()) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(
                f"admin {method} {path} answered {exc.code}: {exc.read()[:500]!r}"
            ) from exc
        return json.loads(raw) if raw else None

    @property
    def org_id(self) -> str:
        """The Salesforce emulator's org id (``00D...``, 18 characters), one per data dir."""
        if self.kind != "salesforce":
            raise AttributeError("only the Salesforce emulator has an org id")
        if self._org_id is None:
            self._org_id = str(self.admin("GET", "org")["org_id"])
        return self._org_id

    # -- Salesforce org changes at run time (admin calls, never billed) ----------------------
    def add_field(self, sobject: str, name: str, **spec: Any) -> Any:
        """Add (or replace) a custom field, spec as in schema.yml: ``type="Text", length=80``."""
        return self.admin("POST", f"fields/{sobject}", {"name": name, **spec})

    def drop_field(self, sobject: str, name: str) -> Any:
        """Delete a custom field and its values."""
        return self.admin("DELETE", f"fields/{sobject}/{name}")

    def set_picklist(
        self, sobject: str, name: str, values: list[str], restricted: bool | None = None
    ) -> Any:
        """Set a picklist field's values (and whether they are restricted)."""
        body: dict[str, Any] = {"values": values}
        if restricted is not None:
            body["restricted"] = restricted
        return self.admin("POST", f"picklists/{sobject}/{name}", body)

    def delete_record(self, sobject: str, record_id: str, hard: bool = False) -> Any:
        """Delete a record by hand (soft: to the recycle bin; hard: gone)."""
        suffix = "?hard=true" if hard else ""
        return self.admin("DELETE", f"records/{sobject}/{record_id}{suffix}")

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        return self.admin("GET", "stats")

    def reset(self) -> Any:
        """Back to the seeded state, with no faults, counters or log (``POST reset``)."""
        return self.admin("POST", "reset")

    def reset_stats(self) -> None:
        """``POST /_emulator/stats/reset``."""
        self.admin("POST", "stats/reset")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
